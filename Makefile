# Two commands do everything on a fresh Debian machine:
#   make run   install missing packages, build, serve the default store on 127.0.0.1:8081
#   make test  install missing packages, build, run every test, then again under ASan+UBSan
BUILD      ?= build
BUILD_ASAN ?= build-asan
PREFIX     ?= /usr/local
CMAKE_FLAGS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-asan run test test-fast test-asan install bench docs format clean

all: build

deps:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DAGENTRAIL_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/build.ninja:
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DAGENTRAIL_WERROR=ON -DAGENTRAIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)

build-asan: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)

run: build
	$(BUILD)/agentrail serve

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

test: test-fast test-asan

install: build
	cmake --install $(BUILD)

bench: build
	$(BUILD)/agentrail bench ingest --events 200000 --batch 1000 --store $(BUILD)/bench.db
	$(BUILD)/agentrail bench verify --store $(BUILD)/bench.db

# docs/cli.md holds every command's --help (tests/integration/test_docs.sh checks it).
docs: build
	scripts/gen-cli-doc $(BUILD)/agentrail docs/cli.md

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
