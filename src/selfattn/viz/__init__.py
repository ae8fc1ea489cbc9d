"""Pictures of what the models do, each behind ``selfattn viz ...``.

* ``attention``: a trained run's attention on one input (``selfattn viz attention RUN``),
  drawn by ``maps`` (layers x heads heat maps), ``graph`` (weights on the edges),
  ``image`` (a pixel's attention over the image) and ``html`` (the one-file viewer);
  ``summary`` gives the per-head numbers over a test split;
* ``embeddings``: GloVe and learned word vectors in 2-D, and whether similar words cluster;
* ``positional``: every positional encoding as a heat map;
* ``costs``: time and memory against L per kernel, from the committed benchmark results.
"""
