# Every target that needs Python first makes .venv (once, or again when the project files change).
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/pip install --quiet --constraint constraints.txt
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium; no step may fetch a browser of Playwright's own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install test lint format train-classifier train evaluate baseline reproduce train-fashion results bench bench-serve \
	bench-peers bench-decoder bench-cuda export-onnx bench-distributed fuzz soak robustness audit serve screenshots docker-smoke clean legible calibrate trust numbers legibility

install: $(STAMP)

# The client is a distribution of its own (client/) that the project depends on by name; named in the
# same command, pip takes it from there instead of looking for it on the index. A venv installed before the
# split lists bin/cvae-client among the project's files, so replacing the project would delete the client's
# script: the old project is removed first. $(1): the extras.
define install_project
	python3 -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(BIN)/pip uninstall --quiet --quiet --yes cvae-digits
	$(PIP_INSTALL) --editable ./client --editable '.$(1)'
	touch $@
endef

# In a variable: call would split the extras' commas into arguments of their own.
ALL_EXTRAS := [train,dev,export]
$(STAMP): pyproject.toml client/pyproject.toml constraints.txt
	$(call install_project,$(ALL_EXTRAS))

# What serving needs and no more (no training, test or export tools). A venv with the full install keeps
# it, brought up to date.
SERVE_STAMP := $(VENV)/.installed-serve
$(SERVE_STAMP): pyproject.toml client/pyproject.toml constraints.txt
	$(if $(wildcard $(STAMP)),$(MAKE) --no-print-directory install && touch $@,$(call install_project,))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint --failure-threshold error Dockerfile

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest

# The shipped models, trained from scratch on the offline data (docs/model.md, "Reproduce").
train-classifier: install
	$(BIN)/cvae-train-classifier --out checkpoints/digit-classifier

train: install
	$(BIN)/cvae-train --out checkpoints/cvae-mnist

evaluate: install
	$(BIN)/cvae-evaluate checkpoints/cvae-mnist --cas
	$(BIN)/cvae-calibrate checkpoints/cvae-mnist --threads 1
	$(BIN)/cvae-legibility checkpoints/cvae-mnist

# The legibility network /v1/number chooses each digit's step with (model/legibility.py): 120,000 latents
# decoded and read by the classifier, then 20 epochs of a small MLP (105 s on two threads of the 2-core EPYC).
legibility: install
	$(BIN)/cvae-legibility checkpoints/cvae-mnist

# pytorch/examples' VAE made conditional: MLP 784-400-20, Adam 1e-3, batch 128, no schedule, no KL warm-up,
# beta 1, no jitter, float32.
BASELINE := --arch mlp --hidden-dim 400 --latent-dim 20 --batch-size 128 --lr 1e-3 --schedule constant --kl-warmup 0 \
	--beta 1 --augment 0 --precision fp32

baseline: install
	$(BIN)/cvae-train $(BASELINE) --epochs 10 --out checkpoints/mlp-baseline-10
	$(BIN)/cvae-evaluate checkpoints/mlp-baseline-10
	$(BIN)/cvae-train $(BASELINE) --epochs 100 --out checkpoints/mlp-baseline-100
	$(BIN)/cvae-evaluate checkpoints/mlp-baseline-100

reproduce: train-classifier train evaluate

# The shipped Fashion-MNIST model from Debian's dataset-fashion-mnist (its official 60,000/10,000 split): its
# classifier (8 epochs, mirror/shift/blur augmentation, two threads: about 1 min an epoch on a quiet machine),
# the CVAE (26 epochs, beta 3: epochs of 28-30 s alone, about 12.5 min), its evaluation (refined ELBO and IWAE
# on 1,000 evenly spaced test images, the rest on all 10,000) judged by its own classifier, and its is_digit
# calibration.
FASHION_DATA := --data idx --data-dir /usr/share/datasets/fashion-mnist
# Its is_digit calibration, with a detector twice as wide as the digits model's (training/outliers.py).
CALIBRATE_FASHION = $(BIN)/cvae-calibrate checkpoints/cvae-fashion --classifier checkpoints/fashion-classifier \
	$(FASHION_DATA) --threads 1 --detector-channels 32
train-fashion: install
	$(BIN)/cvae-train-classifier $(FASHION_DATA) --epochs 8 --augment objects --threads 2 \
		--out checkpoints/fashion-classifier
	$(BIN)/cvae-train $(FASHION_DATA) --epochs 26 --beta 3 --eval-images 1000 --out checkpoints/cvae-fashion
	$(BIN)/cvae-evaluate checkpoints/cvae-fashion $(FASHION_DATA) --classifier checkpoints/fashion-classifier \
		--bound-images 1000
	$(CALIBRATE_FASHION)

bench: install
	$(BIN)/python -m benchmarks.training_loop

# The shipped digits model's networks as ONNX (decoder.onnx, encoder.onnx, classifier.onnx) and export.json,
# their inputs, outputs and largest difference from PyTorch's answers, in build/onnx/ (about 15 s).
export-onnx: install
	$(BIN)/cvae-export checkpoints/cvae-mnist --classifier checkpoints/digit-classifier --out build/onnx

# The shipped decoder in-process on one thread: PyTorch float32 and bfloat16 autocast, ONNX Runtime float32,
# at blocks of 8 and 64 rows, and how far their images are apart: writes benchmarks/results/decoder.json
# (about 30 s).
bench-decoder: install
	$(BIN)/python -m benchmarks.decoder

# On a GPU host (torch with CUDA, wrk): the decoder in-process on CUDA in each precision, cvae-serve on CUDA
# beside the same machine's CPUs, and the shipped recipe trained and evaluated on CUDA: writes
# benchmarks/results/cuda.json (about 8 min on one H200).
bench-cuda: install
	$(BIN)/python -m benchmarks.cuda

# LitServe and BentoML (benchmarks/peers/requirements.txt) in a venv of their own, beside the project and the
# torch that constraints.txt pins, so that the peers run the same networks as cvae-serve.
.venv-peers/.installed: pyproject.toml client/pyproject.toml constraints.txt benchmarks/peers/requirements.txt
	python3 -m venv .venv-peers
	.venv-peers/bin/pip install --quiet --upgrade pip
	.venv-peers/bin/pip install --quiet --constraint constraints.txt --editable ./client --editable . \
		--requirement benchmarks/peers/requirements.txt
	touch $@

# cvae-serve as shipped beside LitServe and BentoML serving the same networks (answers checked identical
# first), POST /v1/sample n=1 at 1, 16 and 64 clients and n=64 at 16, with wrk (needs /usr/bin/wrk) in 3
# interleaved rounds: writes benchmarks/results/peers.json and docs/peers.md (about 7 min on a quiet machine;
# the first run also makes .venv-peers, a few minutes more).
bench-peers: install .venv-peers/.installed
	$(BIN)/python -m benchmarks.peers.run

# Training images/s of the shipped CVAE config: 2 torchrun processes (gloo, 1 thread each) against 1 process
# with 2 threads and 1 with 1, alternating: writes benchmarks/results/distributed.json and docs/distributed.md
# (under a minute on a quiet machine).
bench-distributed: install
	$(BIN)/python -m benchmarks.distributed

# The served API under load with wrk (needs /usr/bin/wrk), against a hello-world app and the bare decoder:
# writes benchmarks/results/serving.json, docs/benchmarks.md and docs/serving-latency-vs-n.png (about 11 min).
bench-serve: install
	$(BIN)/python -m benchmarks.serving

# schemathesis, every check, against the service with an API key on a free port of 127.0.0.1 (tests/fuzz_api.py);
# a bounded run is part of make test (tests/test_fuzz.py).
fuzz: install
	PYTHONPATH=. $(BIN)/python tests/fuzz_api.py --max-examples 100

# 20,000 mixed requests at concurrency 32 against the service on a free port of 127.0.0.1, every answer
# checked, RSS growth under 5% (tests/soak.py, about 2 min); a short run is part of make test
# (tests/test_soak.py).
soak: install
	PYTHONPATH=. $(BIN)/python tests/soak.py

# Every robustness test at full size (the soak at 20,000 requests, the fuzzer at 100 cases per operation,
# every kill point of a checkpoint save): writes docs/robustness.md from what each sent and saw (5.5 min on
# a 2-core Xeon).
robustness: install
	PYTHONPATH=. $(BIN)/python tests/robustness_report.py

# Known vulnerabilities in the installed packages (pip-audit; says so plainly where its database cannot be
# reached) and no unpickling in model/, app/, training/ (tests/audit.py).
audit: install
	$(BIN)/python tests/audit.py

# The shipped checkpoints over HTTP on port 8000 (settings: CVAE_* variables, docs/api.md).
serve: $(SERVE_STAMP)
	$(BIN)/cvae-serve --port 8000

# docs/page-desktop.png and docs/page-phone.png, the README's pictures of the page (needs /usr/bin/chromium).
screenshots: install
	$(BIN)/python tests/page_screenshots.py

# The Docker image built offline and served from, as CI does it (docs/docker.md): needs root, and says
# SKIPPED where Docker cannot run.
docker-smoke: install
	PYTHON=$(BIN)/python docker/smoke-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# What /v1/sample's min_confidence does to the shipped digits model: acceptance, diversity and the
# classifier's argmax per digit over 1,000 draws each; writes benchmarks/results/legible.json (8 s).
legible: install
	$(BIN)/python -m training.commands.legible_report

# The numbers /v1/number writes: the share of their digits (cut from each box) that the classifier reads right,
# and how alike the digits of one number are against those of different numbers (one hand); 1,000 numbers of
# 2 to 8 digits. Writes benchmarks/results/numbers.json and docs/numbers.png (15 s). Then how well /v1/read's
# reader reads numbers made of real test digits on plain and photographed paper, and the service's own
# (benchmarks/results/number-reading.json, docs/reading.png: under 2 min on one thread).
numbers: install
	$(BIN)/python -m training.commands.number_report
	$(BIN)/python -m training.commands.number_reading --examples docs/reading.png

# is_digit / ood_score of both shipped models, calibrated on their own held-out test data (half calibrates,
# half checks; the result goes into config.json, under "ood").
calibrate: install
	$(BIN)/cvae-calibrate checkpoints/cvae-mnist --threads 1
	$(CALIBRATE_FASHION)

# Every figure of docs/trust.md: phone photos read (benchmarks/results/photos.json), is_digit and the reading
# per kind of upload, the 12-megapixel photo's preprocessing time (benchmarks/results/ood.json; the Fashion
# model's, handwritten digits among its kinds, in ood-fashion.json: needs dataset-fashion-mnist), min_confidence
# per digit (legible.json).
trust: install legible
	$(BIN)/python -m training.commands.photo_accuracy
	$(BIN)/python -m training.commands.ood_report --threads 1
	$(BIN)/python -m training.commands.ood_report --threads 1 --checkpoint checkpoints/cvae-fashion \
		--classifier checkpoints/fashion-classifier --out benchmarks/results/ood-fashion.json

# The README's results table, from the evaluated checkpoints' config.json.
results: install
	$(BIN)/python -m training.commands.report checkpoints/mlp-baseline-10 checkpoints/mlp-baseline-100 checkpoints/cvae-mnist
	$(BIN)/python -m training.commands.report checkpoints/cvae-fashion
