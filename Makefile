# wfd: two commands do everything on a fresh Debian machine.
#   make run    install what is missing, build, run wfd in the foreground on ./jobs.d and ./state
#   make test   install what is missing, build, run every test (the systemd end-to-end ones need root)
#   make soak   the kill -9 crash test with 1,000 kills instead of 50 (about 10 minutes)
#   make fuzz   libFuzzer on each parser for FUZZ_SECONDS (default 60) each; make test replays the corpus
#   make sanitize  the tests under ThreadSanitizer, then AddressSanitizer
#   make deb    the Debian package, in .build-deb/ (make test-deb: installs, upgrades and purges it)

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
# Debian packages the build and the tests need (python3's jsonschema checks the published schema;
# dbus: the system bus of the test instances of systemd, over which wfd starts steps as units).
# libcurl4-openssl-dev: the release build links Swift's runtime and Foundation statically, and with
# them URLSession's libcurl.
# What `make deb` needs besides: the Debian tools that build and check a package.
DEB_PACKAGES = debhelper dpkg-dev lintian pkgconf
APT_PACKAGES = libsystemd-dev libcurl4 libcurl4-openssl-dev pkg-config systemd util-linux procps python3 dbus
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Release binaries link Swift's runtime and Foundation statically: each wfctl command starts in
# ~18 ms instead of ~29 (no dynamic symbol binding) and wfd's resident memory is 5 MiB smaller
# (BENCHMARKS.md). Kept apart from .build, where the debug build, the tests and `make man` build.
RELEASE_SCRATCH = .build-static
RELEASE = $(RELEASE_SCRATCH)/release
FUZZ_SCRATCH = .build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = job-file cron calendar template schema record condition

.PHONY: browser promtool otlp mcp-client all deps build run test soak bench install uninstall lint clean man fuzz sanitize deb test-deb

all: build

deps:
	@python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install --quiet jsonschema
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

run: build
	@mkdir -p state
	@chmod go-w jobs.d/*.yaml  # wfd refuses job files others could change, like cron
	.build/debug/wfd --jobs ./jobs.d --state ./state --prices ./config/prices.yaml --log-target stderr

# The web UI's test drives Debian's Chromium with its driver and Selenium (for Debian's python3).
browser:
	@test -x /usr/bin/chromedriver && /usr/bin/python3 -c 'import selenium' 2>/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver python3-selenium; }

# The metrics test checks wfctl's output with Prometheus's promtool: taken out of Debian's
# prometheus package into .build-tools/ (installing the package would also start a server).
promtool: .build-tools/promtool
.build-tools/promtool:
	mkdir -p .build-tools/deb
	cd .build-tools/deb && { apt-get download prometheus 2>/dev/null || { $(SUDO) apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x .build-tools/deb/prometheus_*.deb .build-tools/deb/root
	cp .build-tools/deb/root/usr/bin/promtool $@
	rm -rf .build-tools/deb

# The traces test checks wfd's spans with a receiver built on the official OTLP definitions
# (PyPI's opentelemetry-proto, with protobuf), installed into .build-tools/python.
otlp: .build-tools/python/opentelemetry/proto
.build-tools/python/opentelemetry/proto:
	python3 -m pip install --quiet --disable-pip-version-check --target .build-tools/python "opentelemetry-proto==1.45.2"

# The MCP test drives wfctl mcp and wfd-web's /mcp with the official Python SDK (PyPI's mcp); the agent
# tests give an agent the tools of a real stdio MCP server package (PyPI's mcp-server-time).
mcp-client: .build-tools/python/mcp_server_time
.build-tools/python/mcp_server_time:
	python3 -m pip install --quiet --disable-pip-version-check --target .build-tools/python "mcp==1.23.1" \
	  "mcp-server-time==2025.9.25"

test: build browser promtool otlp mcp-client
	python3 scripts/module-graph.py --check > /dev/null
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The crash test of `make test` (50 kills of wfd -9 at random moments) with 1,000 kills.
soak: build
	$(SWIFT) build --build-tests
	WFD_CRASH_KILLS=1000 $(SWIFT) test --skip-build --filter CrashRecoveryTests

# Each target runs on the kept corpus (Tests/Fixtures/fuzz/TARGET) plus what earlier runs found
# (.build-fuzz/corpus/TARGET). A crash or a violated property stops with the input in
# .build-fuzz/artifacts: fix it, then add the input to Tests/Fixtures/fuzz/TARGET.
fuzz: deps
	$(SWIFT) build -c release --scratch-path $(FUZZ_SCRATCH) --product wfd-fuzz \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING \
		-Xswiftc -Xclang-linker -Xswiftc -fuse-ld=bfd  # gold crashes on this link
	@mkdir -p $(FUZZ_SCRATCH)/artifacts
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_SCRATCH)/corpus/$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan-suppressions.txt \
		WFD_FUZZ_TARGET=$$t $(FUZZ_SCRATCH)/release/wfd-fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 -artifact_prefix=$(FUZZ_SCRATCH)/artifacts/$$t- \
			$(FUZZ_SCRATCH)/corpus/$$t Tests/Fixtures/fuzz/$$t 2>$(FUZZ_SCRATCH)/$$t.log \
			|| { tail -40 $(FUZZ_SCRATCH)/$$t.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_SCRATCH)/$$t.log; \
	done

# The whole test suite under each sanitizer, in build folders of their own; the tests wait
# longer (everything runs several times slower), and TSan lets a forked child go on to exec.
sanitize: deps
	TSAN_OPTIONS="die_after_fork=0 halt_on_error=1" WFD_TEST_TIMEOUT_SCALE=6 \
		$(SWIFT) test --sanitize=thread --scratch-path .build-tsan
	ASAN_OPTIONS="detect_leaks=0" WFD_TEST_TIMEOUT_SCALE=4 \
		$(SWIFT) test --sanitize=address --scratch-path .build-asan

# wrk loads wfd-web's API over TCP in the web section.
bench: release
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }
	python3 scripts/bench.py $(RELEASE)

lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

# The programs are linked by the toolchain's lld with packed relative relocations (glibc 2.36's
# DT_RELR: 102,762 relocations in 2.4 MB become 20 kB, read at every start) and without exporting
# every Swift symbol (SwiftPM's -export-dynamic; nothing here looks its own symbols up): wfd-web
# starts at 19.1 MiB resident instead of 22.6 (BENCHMARKS.md, 2026-12-05, sixth session).
RELEASE_LINK = -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld \
	-Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic
RELEASE_BUILD = $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(RELEASE_SCRATCH) $(RELEASE_LINK)

release: deps
	$(RELEASE_BUILD) --product wfd
	$(RELEASE_BUILD) --product wfctl
	$(RELEASE_BUILD) --product wfd-web

# Man pages generated from the argument parsers (wfd.1, wfctl.1) into .build/plugins/GenerateManual/outputs.
man:
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --configuration release

install:
	@[ -x $(RELEASE)/wfd ] && [ -x $(RELEASE)/wfctl ] && [ -x $(RELEASE)/wfd-web ] || $(MAKE) release
	$(MAKE) man
	install -D -s -m 0755 $(RELEASE)/wfd $(DESTDIR)$(PREFIX)/bin/wfd
	install -D -s -m 0755 $(RELEASE)/wfctl $(DESTDIR)$(PREFIX)/bin/wfctl
	install -D -s -m 0755 $(RELEASE)/wfd-web $(DESTDIR)$(PREFIX)/bin/wfd-web
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	for unit in wfd.service wfd-web.service wfd-web.socket; do \
		sed 's|/usr/local|$(PREFIX)|g' systemd/$$unit > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$unit; \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$unit; \
	done
	install -D -m 0644 systemd/wfd.slice $(DESTDIR)$(SYSTEMD_UNIT_DIR)/wfd.slice
	# The group wfd runs in (Group=wfd): its members may read wfd's state and command it.
	install -D -m 0644 systemd/wfd.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/wfd.conf
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/wfd/README.md
	install -m 0644 docs/*.md docs/openapi.yaml $(DESTDIR)$(PREFIX)/share/doc/wfd/
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/doc/wfd/web docs/web/*.png
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	# The generated pages hold empty lines, which roff reads as blank output lines: dropped.
	for page in wfd wfctl wfd-web; do \
		sed '/^$$/d' .build/plugins/GenerateManual/outputs/$$page/$$page.1 > $(DESTDIR)$(PREFIX)/share/man/man1/$$page.1; \
		chmod 0644 $(DESTDIR)$(PREFIX)/share/man/man1/$$page.1; \
	done
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	# bash-completion sources the file: the generated #!/bin/bash line is dropped.
	$(RELEASE)/wfctl --generate-completion-script bash | sed '1{/^#!/d}' \
		> $(DESTDIR)$(PREFIX)/share/bash-completion/completions/wfctl
	$(RELEASE)/wfctl --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_wfctl
	$(RELEASE)/wfctl --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/wfctl.fish
	@[ -e $(DESTDIR)/etc/wfd/prices.yaml ] || install -D -m 0644 config/prices.yaml $(DESTDIR)/etc/wfd/prices.yaml
	install -d -m 0750 $(DESTDIR)/etc/wfd/jobs.d $(DESTDIR)/var/lib/wfd
	@if [ -z "$(DESTDIR)" ]; then systemd-sysusers $(PREFIX)/lib/sysusers.d/wfd.conf; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed; start it with: systemctl enable --now wfd wfd-web.socket"

# The Debian package (debian/): wfd_<version>_amd64.deb in .build-deb/, then lintian on it (an
# error or a warning not overridden with its reason in debian/ fails the build).
deb: deps
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	rm -rf .build-deb && mkdir -p .build-deb
	dpkg-buildpackage -b -us -uc
	mv ../wfd_*_amd64.deb ../wfd_*_amd64.buildinfo ../wfd_*_amd64.changes .build-deb/
	lintian --info --fail-on error,warning .build-deb/wfd_*_amd64.deb

# The package installed, upgraded while a step runs, removed and purged, in a systemd of its own
# on an overlay of this machine's root (the host's /usr, /etc and /var are not touched).
test-deb: deb
	$(SWIFT) build --build-tests
	WFD_TEST_DEB="$$(ls $(CURDIR)/.build-deb/wfd_*_amd64.deb)" $(SWIFT) test --skip-build --filter DebianPackageTests

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/wfd $(DESTDIR)$(PREFIX)/bin/wfctl $(DESTDIR)$(PREFIX)/bin/wfd-web
	rm -f $(DESTDIR)$(SYSTEMD_UNIT_DIR)/wfd.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/wfd.slice \
		$(DESTDIR)$(SYSTEMD_UNIT_DIR)/wfd-web.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/wfd-web.socket
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/wfd.1 $(DESTDIR)$(PREFIX)/share/man/man1/wfctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/wfd-web.1
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/wfctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_wfctl
	rm -f $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/wfctl.fish $(DESTDIR)$(PREFIX)/lib/sysusers.d/wfd.conf
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/wfd
	@echo "left /etc/wfd and /var/lib/wfd (your jobs and history) and the group wfd in place"

clean:
	rm -rf .build $(RELEASE_SCRATCH) $(FUZZ_SCRATCH) .build-tsan .build-asan .build-deb
