"""Pictures of what the models do, each behind ``selfattn viz ...`` (``viz/cli.py``).

* ``attention``: a trained run's attention on one input (``selfattn viz attention RUN``),
  drawn by ``maps`` (layers x heads heat maps), ``graph`` (weights on the edges),
  ``image`` (a pixel's attention over the image) and ``html`` (the one-file viewer);
  ``summary`` gives the per-head numbers over a test split;
* ``embeddings``: GloVe and learned word vectors in 2-D, and whether similar words cluster;
* ``positional``: every positional encoding as a heat map;
* ``costs``: time and memory against L per kernel, from the committed benchmark results.

Layers: ``maps``, ``graph``, ``image``, ``html`` and ``plain_text`` only draw tensors and
import nothing of selfattn but each other (a leaf: ``train`` and ``demo`` draw with them);
``runs``, ``attention``, ``summary`` and ``embeddings`` read trained runs through
``selfattn.train``; ``cli`` alone knows the command line. Layers and heads are numbered
from 1 in every figure and in the viewer.
"""
