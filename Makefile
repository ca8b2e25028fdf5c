# Thin wrappers: every target installs what is missing first.
SWIFT ?= swift

.PHONY: all deps build release deb test run bench bench-full bench-alloc fuzz soak chaos test-asan test-tsan test-leaks install install-files uninstall clean

# make install: PREFIX and DESTDIR as usual; the unit, the health check and the
# man page go with the binary (see README, "Install").
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/magent
SYSCONFDIR ?= /etc
MAGENT_BINARY ?= .build/release/magent

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# The Swift standard library and runtime are linked statically and no
# $ORIGIN rpath is added: the binary needs only libc, libstdc++ and libevent,
# so it runs (make install, make deb) where the toolchain is not. Only the
# magent product: the test kit target (Swift Testing) has no release build.
RELEASE_FLAGS = -c release --static-swift-stdlib --disable-local-rpath

release: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product magent

test: deps
	$(SWIFT) build --build-tests
	bash scripts/fuzz.sh 10
	bash scripts/check-install.sh $(CURDIR)/.build/debug/magent
	bash scripts/check-deb.sh
	MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build
	MAGENT_CHAOS_SECONDS=60 MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build --filter ConsistencyChaosTests

# make deb: the Debian package of the release binary, in $(DEBDIR) (see README, "Install").
DEBDIR ?= $(CURDIR)/.build/deb

deb: release
	bash scripts/build-deb.sh .build/release/magent $(DEBDIR)

run: release
	bash scripts/run-local.sh

fuzz: deps
	bash scripts/fuzz.sh 60

# 10 minutes of each chaos test: SoakTests (servers killed and restarted under load) and the
# model-checked ConsistencyChaosTests (every fault kind, proxy restarts included); 60 s of each
# run in `make test`. Exits non-zero on any violation.
soak: deps
	$(SWIFT) build --build-tests
	MAGENT_SOAK_SECONDS=600 MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build --filter SoakTests
	MAGENT_CHAOS_SECONDS=600 MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build --filter ConsistencyChaosTests

# Every test against AddressSanitizer / ThreadSanitizer builds (slow: not part of `make test`).
test-asan: deps
	bash scripts/sanitize.sh address

test-tsan: deps
	bash scripts/sanitize.sh thread

# The proxy under valgrind through connects, disconnects and backend failures.
test-leaks: deps
	bash scripts/leak-check.sh

bench: deps
	bash scripts/bench.sh quick

bench-alloc: deps
	bash scripts/count-allocations.sh

bench-full: deps
	bash scripts/bench.sh full

install: release
	$(MAKE) install-files

# Copies what is built; MAGENT_BINARY picks the binary (the tests install the debug one).
install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/default
	install -m 0755 $(MAGENT_BINARY) $(DESTDIR)$(BINDIR)/magent
	install -m 0755 scripts/magent-check $(DESTDIR)$(BINDIR)/magent-check
	install -m 0644 man/magent.1 $(DESTDIR)$(MANDIR)/man1/magent.1
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/etc/default/magent|$(SYSCONFDIR)/default/magent|g' \
		conf/magent.service > $(DESTDIR)$(UNITDIR)/magent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/magent.service
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' conf/keepalived.conf > $(DESTDIR)$(DOCDIR)/keepalived.conf
	install -m 0644 conf/magent.default $(DESTDIR)$(DOCDIR)/magent.default
	chmod 0644 $(DESTDIR)$(DOCDIR)/keepalived.conf
	@# An operator's server list is never overwritten.
	if [ ! -e $(DESTDIR)$(SYSCONFDIR)/default/magent ]; then \
		install -m 0644 conf/magent.default $(DESTDIR)$(SYSCONFDIR)/default/magent; fi

# Leaves $(SYSCONFDIR)/default/magent (the operator's settings) in place.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/magent $(DESTDIR)$(BINDIR)/magent-check $(DESTDIR)$(MANDIR)/man1/magent.1 \
		$(DESTDIR)$(UNITDIR)/magent.service $(DESTDIR)$(DOCDIR)/keepalived.conf $(DESTDIR)$(DOCDIR)/magent.default
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf .build

# Model-checked chaos (ConsistencyChaosTests): 8 clients checked against their own model while one
# server at a time is killed, frozen, flapping or slowed; MAGENT_CHAOS_SECONDS (default 60), MAGENT_CHAOS_SEED.
chaos: deps
	$(SWIFT) build --build-tests
	MAGENT_CHAOS_SECONDS=$${MAGENT_CHAOS_SECONDS:-60} MAGENT_BINARY=$(CURDIR)/.build/debug/magent $(SWIFT) test --skip-build --filter ConsistencyChaosTests
