# Thin wrappers: every target installs what is missing first.
SWIFT ?= swift

.PHONY: all deps build release test run clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build

run: release
	bash scripts/run-local.sh

clean:
	rm -rf .build
