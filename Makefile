# a2d: two commands do everything on a fresh machine:
#   make repro   # set up, then run the whole pipeline (paper profile; PROFILE=ci for the small one)
#   make test    # set up, then run the test suite (includes one end-to-end dvc run of the ci profile)
# The Makefile only sets up and calls DVC / pytest; all logic lives in a2d/ and stages/.

SHELL := /bin/bash
VENV ?= .venv
PYTHON_BOOT ?= python3
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PROFILE ?= paper
# Hydra overrides for `make repro`, e.g. OVERRIDES="seed=1 targets=[env1_cifar10]"
OVERRIDES ?=
RUN_OVERRIDES := $(strip $(if $(filter-out paper,$(PROFILE)),profile=$(PROFILE)) $(OVERRIDES))
PYTEST_ARGS ?=
# test processes: the end-to-end run on one, the unit tests beside it (pytest-xdist, by file)
TEST_WORKERS ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: help setup params restore plan repro repro-ci status test test-fast lint deps models bench \
	clean-venv table2 fig5 fig3 fig4

help:  ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

setup: $(VENV)/.installed  ## create .venv: torch first (see ../shared/ENV.md), then a2d with [dev,docs,bench]

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON_BOOT) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q $(TORCH_PINS)
	$(VENV)/bin/python -m pip install -q -e '.[dev,docs,bench]'
	touch $@

params: setup  ## compose conf/ into params.yaml for PROFILE (default paper) and OVERRIDES
	python -m stages.params profile=$(PROFILE) $(OVERRIDES)

restore: setup  ## fetch the committed intermediates (adversarial sets) from the repository's DVC remote, data/remote
	dvc pull --allow-missing
	python -m a2d.pipeline.partial restore

plan: restore  ## print what `make repro` would run, why, and each stage's last measured time; runs nothing
	python -m a2d.pipeline.plan

repro: restore  ## restore, print the plan, then run it: `dvc repro`, or `dvc exp run -S ...` with PROFILE / OVERRIDES
ifeq ($(RUN_OVERRIDES),)
	python -m a2d.pipeline.plan
	dvc repro
else
	python -m stages.params --check $(RUN_OVERRIDES)
	dvc exp run $(foreach o,$(RUN_OVERRIDES),-S '$(o)')
endif

status: setup  ## what DVC would re-run
	dvc status

models: setup  ## train / import the target models of the current params.yaml
	dvc repro model

test: setup  ## the whole test suite (about 20 minutes on 2 cores; includes the e2e ci-profile run)
	pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup  ## unit tests only (skips the slow end-to-end run)
	pytest -m "not slow" $(PYTEST_ARGS)

# One target per paper artefact: each regenerates exactly that artefact through DVC.
table2: restore  ## Table 2 (AUROC of A2D and baselines) -> results/tables/table2.{csv,md}
	python -m a2d.pipeline.plan table2
	dvc repro table2

fig5: restore  ## Figure 5 (iterations of each attack_d, box plots) -> results/figures/fig5_<target>.{png,pdf}
	python -m a2d.pipeline.plan fig5
	dvc repro fig5

# RQ1 (Section 5.1): the stages before them (rq1_craft, rq1_costs, rq1_time) run as needed
fig3: restore  ## Figure 3 (JSMA_d cost profiles of set halves, heatmap) -> results/figures/fig3_<target>.*, results/tables/fig3_<target>*.*
	python -m a2d.pipeline.plan fig3
	dvc repro fig3

fig4: restore  ## Figure 4 (time of the eight attacks_d, box plots) -> results/figures/fig4_<target>.*, results/tables/fig4_<target>.*
	python -m a2d.pipeline.plan fig4
	dvc repro fig4

bench: setup  ## speed benchmarks -> results/bench/*.json (needs the trained models; run on an idle machine)
	python -m benchmarks.costs
	python -m benchmarks.clever
	python -m benchmarks.shards
	python -m benchmarks.costs_peers
	python -m benchmarks.clever_peers

deps: setup  ## check that every stage's dvc.yaml deps cover what it imports and reads (--fix: DEPS_ARGS=--fix)
	python -m a2d.pipeline.deps $(DEPS_ARGS)

lint: setup  ## ruff
	ruff check a2d stages tests benchmarks

clean-venv:  ## remove the virtual environment
	rm -rf $(VENV)

# Detector artefacts: one stage (`detect@<target>`) writes Figure 6, Table 3 and Table 7
.PHONY: fig6 table3 table7
fig6: restore  ## Figure 6 (K-NN / Z-score accuracies) -> results/figures/fig6_<target>.*, results/tables/fig6_<target>.*
	python -m a2d.pipeline.plan detect
	dvc repro detect

table3: restore  ## Table 3 (Z-score queries, thresholds, accuracies) -> results/tables/table3_<target>.*
	python -m a2d.pipeline.plan detect
	dvc repro detect

table7: restore  ## Table 7 (K, ratio, h, k, classifier sweeps; Env1 MNIST) -> results/tables/table7_env1_mnist.*
	python -m a2d.pipeline.plan detect@env1_mnist
	dvc repro detect@env1_mnist
# Tables 5 and 6 (Appendix A): one stage, `parameter_tables`, renders both from params.yaml
.PHONY: table5 table6
table5: restore  ## Table 5 (Env1 crafting-attack parameters, ours beside the paper's) -> results/tables/table5.{csv,md}
	python -m a2d.pipeline.plan parameter_tables
	dvc repro parameter_tables

table6: restore  ## Table 6 (Env2 crafting-attack parameters, ours beside the paper's) -> results/tables/table6.{csv,md}
	python -m a2d.pipeline.plan parameter_tables
	dvc repro parameter_tables

.PHONY: table1 fig2 fig10
table1: restore  ## Table 1: CLEVER scores, benign vs adversarial -> results/tables/table1.{csv,md}
	python -m a2d.pipeline.plan table1
	dvc repro table1

fig2: restore  ## Figure 2: CLEVER score vs JSMA_d attack time -> results/figures/fig2.{png,pdf}
	python -m a2d.pipeline.plan fig2
	dvc repro fig2

fig10: restore  ## Figure 10: JSMA_d attack time vs iterations -> results/figures/fig10.{png,pdf}
	python -m a2d.pipeline.plan fig10
	dvc repro fig10

.PHONY: docs
docs: setup  ## the documentation site (docs/ -> site/, mkdocs build --strict)
	mkdocs build --strict

# Adaptive attacks (Section 6; conf/adaptive/): the stages before them (adaptive_sweep, magnet,
# adaptive_a2d, adaptive_robustness) run as needed. `adaptive=cifar10` adds the CIFAR-10 parts.
.PHONY: table4 fig7 fig8 fig11 grids aware adaptive
table4: restore  ## Table 4 (CLEVER, BIM_d iterations, L2 of C&W-kappa examples) -> results/tables/table4.{csv,md}
	python -m a2d.pipeline.plan table4
	dvc repro table4

fig7: restore  ## Figure 7 (adaptive attack success through A2D / AE / A2D+AE) -> results/figures/fig7_<model>.*, results/tables/fig7_<model>*.*
	python -m a2d.pipeline.plan fig7
	dvc repro fig7

fig8: restore  ## Figure 8 (one pair, C&W at several kappas, image grid) -> results/figures/fig8.*, results/tables/fig8.*
	python -m a2d.pipeline.plan adaptive_grid@fig8
	dvc repro adaptive_grid@fig8

fig11: restore  ## Figure 11 (every MNIST label pair at kappa 20, image grid) -> results/figures/fig11.*, results/tables/fig11.*
	python -m a2d.pipeline.plan adaptive_grid@fig11
	dvc repro adaptive_grid@fig11

grids: restore  ## every image grid of adaptive.grids (Figures 8, 11; 12, 13 with adaptive=cifar10) -> results/figures/<grid>.*
	python -m a2d.pipeline.plan adaptive_grid
	dvc repro adaptive_grid

aware: restore  ## the A2D-aware attack beside C&W-kappa, against calibrated A2D -> results/tables/aware_<model>.{csv,md}
	python -m a2d.pipeline.plan adaptive_aware
	dvc repro adaptive_aware

adaptive: restore  ## all of Section 6: Table 4, Figure 7, the A2D-aware attack, the image grids
	python -m a2d.pipeline.plan table4 fig7 adaptive_aware adaptive_grid
	dvc repro table4 fig7 adaptive_aware adaptive_grid
