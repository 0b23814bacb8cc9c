# ossmount — see README.md. Every target installs what it needs on a fresh
# Debian machine (Go comes with the machine).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin
CORE := ./crc64ecma/ ./internal/... ./checkpoint/ ./blockcache/ ./store/... ./fetcher/ ./upload/ ./vfs/ ./fs/ ./config/ ./credsource/ ./test/ossemu/ ./test/cmd/ossemu/ ./control/ ./cmd/ossmount/ ./csi/...
PREFIX  ?= /usr/local

.PHONY: all build deps test unit fuzz e2e lint bench reliability demo demo-stop install uninstall clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ossmount ./cmd/ossmount
	$(GO) build -trimpath -o $(BIN)/ossemu ./test/cmd/ossemu

# fuse3 brings fusermount3 and mount.fuse3; util-linux brings mount(8);
# the write tests run rsync.
deps:
	@command -v fusermount3 >/dev/null 2>&1 && command -v mount.fuse3 >/dev/null 2>&1 && command -v rsync >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 rsync >/dev/null; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd test/bench && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

unit:
	$(GO) test -race -count=1 $(CORE)
	cd test/bench && $(GO) test -count=1 ./...

# install first: the fstab tests mount through mount(8) and mount.fuse3,
# which find ossmount on the standard PATH only (make uninstall removes it).
e2e: deps build
	@echo "make e2e: installing bin/ossmount as $(PREFIX)/bin/ossmount: the fstab tests mount through mount(8), whose helper finds ossmount only on the standard PATH (make uninstall removes it)"
	@$(MAKE) --no-print-directory install
	$(GO) test -count=1 -timeout 15m ./test/ -ossmount=$(CURDIR)/$(BIN)/ossmount

# Each fuzz target for a bounded number of inputs (the committed corpus
# under testdata/fuzz runs in `unit` too); make reliability runs six times
# more. Counts, not durations: with a duration, Go 1.26's fuzz coordinator
# can fail a clean run with "context deadline exceeded" when a worker is
# mid-input at the deadline (golang/go#75804, fixed in Go 1.27); seen here
# on FuzzLoad, whose inputs wait on the disk. The counts are about 10 s
# each on the 2-core machine.
FUZZ_LOAD ?= 30000x
FUZZ_OPTIONS ?= 400000x
FUZZ_KEYS ?= 200000x
FUZZ_CRC ?= 200000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZ_LOAD) ./checkpoint/
	$(GO) test -run '^$$' -fuzz '^FuzzParseOptions$$' -fuzztime $(FUZZ_OPTIONS) ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzKeyToPath$$' -fuzztime $(FUZZ_KEYS) ./vfs/
	$(GO) test -run '^$$' -fuzz '^FuzzUpdate$$' -fuzztime $(FUZZ_CRC) ./crc64ecma/

# The one test command (CI runs exactly this through .ci/run).
test: lint unit fuzz e2e

# Faults, kill -9, damaged and small cache disks, hostile keys and a soak,
# at the scale of issue 5 (make test runs the same tests smaller); prints
# the table and writes it to test/reliability/results.md.
RELIABILITY_TESTS := TestWriteBigFileBoundedRSS|TestFaultsWithConcurrentReaders|TestKill9DuringConcurrentReads|TestSmallAndFailingCacheDisk|TestDamagedCacheFilesAreNeverServed|TestNegativeListingSizesAreLeftOut|TestHostileKeys|TestSoakMixedReadsWhileReplacing|TestReplaceWithDifferentSize|TestSameSecondMtimeChange|TestSlowDirectoryReaderOfManyKeys
reliability: deps build
	@echo "make reliability: installing bin/ossmount as $(PREFIX)/bin/ossmount (as make e2e does)"
	@$(MAKE) --no-print-directory install
	@mkdir -p test/reliability
	cd test && $(GO) test -count=1 -timeout 60m -run '$(RELIABILITY_TESTS)' -ossmount=$(CURDIR)/$(BIN)/ossmount \
	  -reliability -reliability-out $(CURDIR)/test/reliability/results.md
	$(MAKE) fuzz FUZZ_LOAD=180000x FUZZ_OPTIONS=2400000x FUZZ_KEYS=1200000x FUZZ_CRC=1200000x

# The peers and fio come from Debian; ossfs 2.0 is built from its source
# when the build script and a git copy of aliyun/ossfs are at hand (else
# results.md says it was left out); the emulator runs inside the driver.
# The driver is its own Go module (test/bench), so its plotting stack stays
# out of the product's go.mod.
OSSFS2_BUILD  ?= $(firstword $(wildcard $(CURDIR)/../shared/tools/build-ossfs2.sh $(CURDIR)/../../shared/tools/build-ossfs2.sh))
OSSFS2_MIRROR ?= /work/.mirror/aliyun+ossfs/repo
OSSFS2        ?= /tmp/peers/ossfs2-src/build/ossfs2
BENCH_ROUNDS  ?= 3
BENCH_WORK    ?= /var/tmp/ossmount-bench
bench: deps build
	@command -v s3fs >/dev/null 2>&1 && command -v rclone >/dev/null 2>&1 && command -v fio >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s3fs rclone fio >/dev/null; }
	@if [ ! -x '$(OSSFS2)' ] && [ -n '$(OSSFS2_BUILD)' ] && [ -d '$(OSSFS2_MIRROR)' ]; then \
	  echo "building ossfs 2.0 from $(OSSFS2_MIRROR) (log: $(BIN)/ossfs2-build.log)"; \
	  mkdir -p $(BIN); SRC_DIR='$(patsubst %/build/ossfs2,%,$(OSSFS2))' bash '$(OSSFS2_BUILD)' '$(OSSFS2_MIRROR)' >$(BIN)/ossfs2-build.log 2>&1 || \
	  echo "ossfs 2.0 did not build (see $(BIN)/ossfs2-build.log); the bench leaves it out"; fi
	cd test/bench && $(GO) build -o $(CURDIR)/$(BIN)/sdkget ./cmd/sdkget && $(GO) build -o $(CURDIR)/$(BIN)/bench ./cmd/bench && \
	  $(GO) build -o $(CURDIR)/$(BIN)/writebench ./cmd/writebench
	$(BIN)/bench -ossmount $(BIN)/ossmount -sdkget $(BIN)/sdkget -ossfs2 '$(OSSFS2)' -rounds $(BENCH_ROUNDS) -work $(BENCH_WORK) -out test/bench
	@echo "writes: 1 GiB through ossmount against the SDK Uploader, s3fs and rclone (test/bench/write-results.md)"
	@{ echo '# ossmount write benchmark'; echo; echo 'Written by `make bench` (test/bench/cmd/writebench).'; echo; echo '```'; \
	  $(BIN)/writebench -ossmount $(BIN)/ossmount -runs $(BENCH_ROUNDS) -work $(BENCH_WORK)/write; echo '```'; } > test/bench/write-results.md.tmp && \
	  mv test/bench/write-results.md.tmp test/bench/write-results.md && cat test/bench/write-results.md

# The demo's ports on 127.0.0.1: make demo OSSEMU_PORT=9100 METRICS_PORT=9564
# when the defaults are taken (9000 is also MinIO's).
OSSEMU_PORT  ?= 9000
METRICS_PORT ?= 9464
demo: deps build
	@OSSEMU_PORT=$(OSSEMU_PORT) METRICS_PORT=$(METRICS_PORT) ./test/demo.sh start

demo-stop:
	@./test/demo.sh stop

# fstab needs only the binary on the standard PATH: fuse3's mount.fuse3
# runs `ossmount SOURCE MOUNTPOINT -o OPTIONS` for type fuse.ossmount.
install: build
	install -D -m 0755 $(BIN)/ossmount $(DESTDIR)$(PREFIX)/bin/ossmount

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ossmount

clean:
	rm -rf $(BIN)
