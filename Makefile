# Thin wrappers: every target installs what is missing first.
SWIFT ?= swift

.PHONY: all deps build release test run bench bench-full fuzz clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	bash scripts/fuzz.sh 10
	MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build

run: release
	bash scripts/run-local.sh

fuzz: deps
	bash scripts/fuzz.sh 60

bench: deps
	bash scripts/bench.sh quick

bench-full: deps
	bash scripts/bench.sh full

clean:
	rm -rf .build
