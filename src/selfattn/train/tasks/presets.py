"""Named presets: the configs of the ready tasks (partial; defaults fill the rest).

Each was measured on the 2-core CPU machine (see docs/results.md). ``num_threads: 1``:
with the cores shared by other jobs, a second torch thread made steps 2-6 times *slower*
(measured: 0.76 s vs 4.5 s per Fashion-MNIST step); on a dedicated machine set
``trainer.num_threads=null`` (torch's default) or more.
"""

from __future__ import annotations

__all__ = ["PRESETS"]

_SMALL = {"num_threads": 1}

PRESETS: dict[str, dict] = {
    # The main job: WSJ sample, word fields + frozen GloVe, rotary positions, each word attending to
    # the 3 words on each side (truncated self-attention: 95.8% validation against 94.4% for full).
    "pos": {
        "task": "pos",
        # each word's spelling through a character CNN (chars) and a quarter of the training words
        # replaced by <unk> (word_dropout), so the 14% of test words never seen in the 801 training
        # sentences are tagged from their spelling (session 7: 95.13% / 95.38%, seeds 0 / 1)
        "data": {"corpus": "wsj", "glove": 100000, "chars": 16, "word_dropout": 0.25},
        "model": {"width": 128, "depth": 2, "heads": 4, "ff": 256, "dropout": 0.2, "positional": "rope",
                  "pattern": "window", "window": 3},
        "optim": {"lr": 0.002, "warmup_steps": 50},
        # no time limit: on a loaded machine it cut runs short, so the figure depended on the load;
        # patience = max_epochs: the cosine schedule always anneals (with patience 10 seed 1 stopped
        # at epoch 20, before it did: 94.66%)
        "trainer": {"max_epochs": 40, "patience": 40, "batch_size": 16, **_SMALL},
    },
    "pos-oanc": {
        "task": "pos",
        "data": {"corpus": "oanc", "glove": 100000},
        "model": {"width": 128, "depth": 2, "heads": 4, "ff": 256, "dropout": 0.1, "positional": "rope"},
        "optim": {"lr": 0.002, "warmup_steps": 200},
        "trainer": {"max_epochs": 6, "patience": 2, "batch_size": None, "max_tokens": 1200, **_SMALL},
    },
    "sentiment": {
        "task": "sentiment",
        "data": {"source": "rotten-tomatoes", "min_freq": 2},
        "model": {"width": 128, "depth": 2, "heads": 4, "ff": 256, "dropout": 0.3, "pooling": "attention",
                  "positional": "rope"},
        "optim": {"lr": 0.001, "warmup_steps": 100},
        "trainer": {"max_epochs": 12, "patience": 3, "batch_size": 32, **_SMALL},
    },
    "sentiment-glove": {
        "task": "sentiment",
        "data": {"source": "rotten-tomatoes", "embedding": "glove-tuned", "glove_words": 100000},
        "model": {"width": 128, "depth": 2, "heads": 4, "ff": 256, "dropout": 0.3, "pooling": "attention",
                  "positional": "rope"},
        "optim": {"lr": 0.001, "warmup_steps": 100},
        "trainer": {"max_epochs": 15, "patience": 4, "batch_size": 32, **_SMALL},
    },
    "sentiment-minilm": {
        "task": "sentiment",
        "data": {"source": "rotten-tomatoes", "max_subwords": 96},
        "model": {"kind": "pretrained", "pretrained": "minilm", "pooling": "mean", "dropout": 0.1},
        "optim": {"lr": 8.0e-5, "warmup_steps": 30, "schedule": "linear", "min_lr_ratio": 0.0},
        "trainer": {"max_epochs": 4, "patience": 1, "batch_size": 32, **_SMALL},
    },
    "speaker": {
        "task": "speaker",
        "data": {"frame_stack": 3},
        "model": {"width": 96, "depth": 2, "heads": 4, "ff": 192, "dropout": 0.1, "pooling": "mean"},
        "optim": {"lr": 0.001, "warmup_steps": 50},
        "trainer": {"max_epochs": 40, "patience": 8, "batch_size": 16, **_SMALL},
    },
    "diarization": {
        "task": "diarization",
        "data": {"frame_stack": 2, "chunk_seconds": 2.0},
        "model": {"width": 64, "depth": 2, "heads": 4, "ff": 128, "dropout": 0.1, "pattern": "window",
                  "window": 16, "positional": "rope"},
        "optim": {"lr": 0.001, "warmup_steps": 20},
        "trainer": {"max_epochs": 60, "patience": 15, "batch_size": 4, **_SMALL},
    },
    "molecule-bbb": {
        "task": "molecule",
        "data": {"dataset": "b3db"},
        "model": {"width": 128, "depth": 3, "heads": 4, "ff": 256, "dropout": 0.1, "pattern": "graph",
                  "positional": "none", "pooling": "attention"},
        "optim": {"lr": 0.0005, "warmup_steps": 100},
        "trainer": {"max_epochs": 30, "patience": 6, "batch_size": 64, **_SMALL},
    },
    "solubility": {
        "task": "molecule",
        "data": {"dataset": "solubility"},
        "model": {"width": 128, "depth": 3, "heads": 4, "ff": 256, "dropout": 0.1, "pattern": "graph",
                  "positional": "none", "pooling": "mean"},
        "optim": {"lr": 0.0005, "warmup_steps": 50},
        "trainer": {"max_epochs": 80, "patience": 15, "batch_size": 32, **_SMALL},
    },
    "freesolv": {
        "task": "molecule",
        "data": {"dataset": "freesolv"},
        "model": {"width": 128, "depth": 3, "heads": 4, "ff": 256, "dropout": 0.1, "pattern": "graph",
                  "positional": "none", "pooling": "mean"},
        "optim": {"lr": 0.0005, "warmup_steps": 50},
        "trainer": {"max_epochs": 150, "patience": 30, "batch_size": 32, **_SMALL},
    },
    "polblogs": {
        "task": "nodes",
        "data": {"graph": "polblogs", "features": "identity", "component": "largest"},
        "model": {"width": 64, "depth": 2, "heads": 4, "ff": 128, "dropout": 0.5, "pattern": "graph",
                  "positional": "none"},
        "optim": {"lr": 0.005, "warmup_steps": 10, "weight_decay": 0.05},
        "trainer": {"max_epochs": 200, "patience": 40, "batch_size": 1, "eval_batch_size": 1, **_SMALL},
    },
    "fashion-mnist": {
        "task": "image",
        "data": {"dataset": "fashion-mnist", "vectors": "patches", "patch": 7, "flip": 0.5},
        "model": {"width": 128, "depth": 4, "heads": 4, "ff": 256, "dropout": 0.1, "positional": "learned",
                  "positional_options": {"max_len": 16}, "pooling": "mean"},
        "optim": {"lr": 0.002, "warmup_steps": 300},
        "trainer": {"max_epochs": 25, "patience": 4, "batch_size": 128, "eval_batch_size": 256,
                    "max_time_s": 3300, **_SMALL},
    },
    # A convolutional stem (28 -> 7x7 cells) + 2 self-attention layers, and the same stem + 2 residual
    # conv blocks on the same budget (selfattn.train.tasks.image_conv): the CNN vs self-attention
    # comparison; augmentation: 2-pixel shifts and mirrors. Measured in docs/results.md (session 6).
    "fashion-mnist-conv": {
        "task": "image-conv",
        "data": {"shift": 2, "flip": 0.5},
        "model": {"kind": "transformer", "width": 64, "depth": 2, "heads": 4, "ff": 128, "dropout": 0.0,
                  "positional": "sinusoidal", "stem": [16, 32], "downsample": 2},
        "optim": {"lr": 0.003, "warmup_steps": 200, "weight_decay": 0.05, "min_lr_ratio": 0.01,
                  "label_smoothing": 0.1},
        "trainer": {"max_epochs": 5, "batch_size": 128, **_SMALL},
    },
    "fashion-mnist-cnn": {
        "task": "image-conv",
        "data": {"shift": 2, "flip": 0.5},
        "model": {"kind": "cnn2d", "width": 64, "depth": 2, "dropout": 0.0, "stem": [16, 32],
                  "downsample": 2},
        "optim": {"lr": 0.003, "warmup_steps": 200, "weight_decay": 0.05, "min_lr_ratio": 0.01,
                  "label_smoothing": 0.1},
        "trainer": {"max_epochs": 5, "batch_size": 128, **_SMALL},
    },
    "translate": {
        "task": "translate",
        "data": {"max_words": 40, "min_freq": 2, "subword_vocab": 8000},
        "model": {"width": 256, "depth": 3, "decoder_depth": 3, "heads": 4, "ff": 512, "dropout": 0.1},
        "optim": {"lr": 0.001, "warmup_steps": 400, "label_smoothing": 0.1},
        "trainer": {"max_epochs": 7, "patience": 3, "batch_size": None, "max_tokens": 2500,
                    "max_time_s": 4500, **_SMALL},
        "run": {"beam_size": 4},
    },
    # DETR on 64x64 canvases of 1-6 Fashion-MNIST items (selfattn.train.tasks.detection): a small
    # backbone (stride 8: 64 vectors), 2 + 2 layers, 10 object queries, fresh canvases each epoch;
    # learning rate / 10 after 80% of the epochs. Measured: test mAP@0.5 0.767 in 33 min (docs/results.md).
    "detr": {
        "task": "detr",
        "data": {"train": 8000, "validation": 500, "test": 1000, "queries": 10, "backbone": [16, 32, 64]},
        "model": {"width": 64, "depth": 2, "decoder_depth": 2, "heads": 4, "ff": 128, "dropout": 0.0},
        "optim": {"lr": 0.0005, "weight_decay": 0.0001, "warmup_steps": 100},
        "trainer": {"max_epochs": 36, "batch_size": 32, "gradient_clip_val": 0.1, **_SMALL},
    },
    # SAGAN on Fashion-MNIST 32x32 (selfattn.train.tasks.sagan): attention on the 16x16 maps of G and D,
    # spectral norm, hinge loss, TTUR (D at 4x the generator's 1e-4); model.kind=cnn2d is the same GAN
    # without attention. FID per epoch in a Fashion-MNIST classifier's features (selfattn.nn.fid).
    "sagan": {
        "task": "sagan",
        "data": {"train": 6400, "fid_samples": 2000, "classifier_images": 60000, "classifier_epochs": 1},
        "model": {"kind": "transformer", "width": 16, "latent": 64, "ttur": 4.0},
        "optim": {"lr": 0.0001},
        "trainer": {"max_epochs": 6, "batch_size": 64, "max_time_s": 1650, **_SMALL},
    },
    # espeak-asr (OANC sentences, eSpeak NG voices; 4 test voices never heard in training):
    # a phoneme per 10 ms frame, window attention over the frames (selfattn.train.tasks.asr).
    "phonemes": {
        "task": "phonemes",
        "data": {"train_utterances": 1500},
        "model": {"width": 128, "depth": 3, "heads": 4, "ff": 256, "dropout": 0.1, "pattern": "window",
                  "window": 16, "positional": "rope"},
        "optim": {"lr": 0.002, "warmup_steps": 100},
        "trainer": {"max_epochs": 20, "patience": 4, "batch_size": None, "max_tokens": 8000,
                    "max_time_s": 1500, **_SMALL},
    },
    # speech to characters: conv subsampling x4, window attention, CTC (greedy + beam decoding);
    # model.decoder=attention|joint adds a cross-attention decoder (selfattn.nn.asr_decoder).
    "asr": {
        "task": "asr",
        "data": {"units": "characters"},
        "model": {"width": 144, "depth": 4, "heads": 4, "ff": 512, "dropout": 0.1, "pattern": "window",
                  "window": 16, "positional": "rope", "decoder": "ctc", "decoder_depth": 2,
                  "ctc_weight": 0.3, "length_penalty": 1.0},
        "optim": {"lr": 0.002, "warmup_steps": 200},
        "trainer": {"max_epochs": 10, "patience": 5, "batch_size": None, "max_tokens": 6000,
                    "max_time_s": 1650, **_SMALL},
        "run": {"beam_size": 8},
    },
}
