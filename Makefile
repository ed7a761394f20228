# zchaos — see README.md.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
# Scenario tests judge real timings: Docker tests (named *Docker*, see style.md)
# and the local-runtime scenario tests (named *LocalRun*). They run apart,
# one package at a time, so no other package's tests share the two cores.
SCENARIO_TESTS := Docker|LocalRun
DOCKER_PKGS := $(sort $(dir $(shell grep -rlE --include='*_test.go' '^func (Test|Benchmark)[A-Za-z0-9_]*(Docker|LocalRun)' .)))

# bash with pipefail: a failing command in a pipe (go test | tee) fails the target.
SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: all deps build test test-unit test-race test-docker mutants soak soak-gate soak-kill bench fuzz lint image gate clean

all: lint build test

## deps: the Debian packages the image build and the probe tests need, installed when missing
## (debootstrap builds the base image; socat and curl are the probes' clients). As root only:
## without root nothing is installed, and one line says what is missing and how to get it.
DEPS := debootstrap socat curl
deps:
	@missing=""; for c in $(DEPS); do command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || missing="$$missing $$c"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "deps: missing$$missing, not installed (not root): sudo apt-get install$$missing, or make gate BASE=IMAGE to build on a Debian image you have"; \
	else echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

## build: static binaries (CGO_ENABLED=0) into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/zchaos ./cmd/zinit ./cmd/herosim

## test: every test, Docker tests included (they skip, loudly, only when no engine answers;
## with CI set they fail instead). Two go test runs: the unit tests of every package, packages
## in parallel; then the Docker tests one package at a time (-p 1), so scenario timings are not
## measured while another package's containers or probe tests hold both cores.
## Both runs always run; the target fails if either failed.
UNIT_TEST   = $(GO) test -count=1 -timeout 30m -skip '$(SCENARIO_TESTS)' $(PKGS)
DOCKER_TEST = $(GO) test -count=1 -timeout 60m -p 1 -run '$(SCENARIO_TESTS)' $(DOCKER_PKGS)
test: build deps
	@rc=0; \
	echo "$(UNIT_TEST)"; $(UNIT_TEST) || rc=1; \
	echo "$(DOCKER_TEST)"; $(DOCKER_TEST) || rc=1; \
	exit $$rc

## test-unit: tests that need no Docker engine
test-unit:
	ZCHAOS_NO_DOCKER=1 $(GO) test -count=1 -short $(PKGS)

## test-race: unit tests under the race detector
test-race:
	ZCHAOS_NO_DOCKER=1 $(GO) test -count=1 -short -race $(PKGS)

## test-docker: only the Docker integration tests
test-docker: build
	$(DOCKER_TEST)

## mutants: the gate's self-test in full. Each defect of zinit/supervisor/mutants.go, switched on in
## a zinit built with the zchaos_mutants tag, must fail the catalogue scenario expected to catch it,
## through the invariant expected; the same zinit with none switched on must pass them all. make test
## runs four of them. The catch table ends the output; the whole log is kept in mutants.out.
mutants: build deps
	@rc=0; ZCHAOS_MUTANTS=all $(GO) test -count=1 -timeout 60m -p 1 -v -run 'TestDockerMutant' ./cmd/zchaos/ > mutants.out 2>&1 || rc=$$?; \
	sed -n '/catch table:/,/^[^ |]/p' mutants.out | grep -E '^ *\|' || true; \
	grep -E '^ *--- |^(ok|FAIL)|control: ' mutants.out || true; exit $$rc

## soak-kill: the dead-man switch, 20 times: start a real `zchaos run`, SIGKILL it once its
## containers run, and require every container of the run gone within the grace + 10 s. Prints the
## containers left and the death → removal times (min/median/max); the log is kept in soak-kill.out.
KILL_RUNS ?= 20
soak-kill: build deps
	@rc=0; ZCHAOS_KILL_RUNS=$(KILL_RUNS) $(GO) test -count=1 -timeout 60m -p 1 -v -run '^TestDockerKilledRunLeavesNoContainers$$' ./cmd/zchaos/ > soak-kill.out 2>&1 || rc=$$?; \
	grep -E 'death → removal|kill soak:|container\(s\) left|^(--- |ok|FAIL)' soak-kill.out || true; exit $$rc

## soak (not in CI; about an hour): SOAK_RUNS (default 10) default gates of the reference
## supervisor under stress-ng (CPU and I/O workers at twice the cores): pass / inconclusive /
## fail counts with the canary's figures (no fail allowed: it would be a false alarm), then a
## supervisor that restarts at 0.9 d, under the same load, must still fail. The summary ends
## the output; the whole log is kept in soak.out.
SOAK_RUNS ?= 10
soak: soak-gate soak-kill
soak-gate: build deps
	@command -v stress-ng >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null; \
	  else echo "soak: stress-ng is missing: sudo apt-get install stress-ng"; exit 1; fi; }
	@rc=0; ZCHAOS_SOAK=$(SOAK_RUNS) $(GO) test -count=1 -timeout 0 -v -run 'TestSoakUnderLoad' ./cmd/zchaos/ > soak.out 2>&1 || rc=$$?; \
	sed -n '/soak: [0-9]* gate runs/,/^--- /p' soak.out | grep -vE '^--- ' || true; \
	grep -E '^ *--- |^(ok|FAIL)|false alarm' soak.out || true; exit $$rc

## bench: every benchmark once (-benchtime 1x), one package at a time, printed as a table
## (also kept in bench.out); Docker benchmarks build their image like the tests do
bench: build
	$(GO) test -count=1 -p 1 -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m $(PKGS) | tee bench.out

## fuzz: every fuzz target of the module (found by name, func FuzzXxx in a _test.go file), each
## for FUZZTIME (default 5s), one at a time. Their seed corpora also run as plain tests with every
## go test; a failing input is written to the package's testdata/fuzz/ and fails the target.
## Go 1.26's fuzz coordinator can end a duration-bounded run with a bare "context deadline
## exceeded" and no failing input (golang/go#75804, fixed in Go 1.27): that alone is reported and
## ignored; any failing input, panic or other error fails the target.
FUZZTIME ?= 5s
fuzz:
	@rc=0; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for f in $$(grep -rlE --include='*_test.go' '^func Fuzz' .); do \
	  for fn in $$(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$$f" | sed 's/^func //'); do \
	    pkg=./$$(dirname "$${f#./}"); echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	    if $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -parallel 2 "$$pkg" > "$$log" 2>&1; then tail -n 1 "$$log"; \
	    elif grep -q 'context deadline exceeded' "$$log" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$$log"; then \
	      echo "fuzz $$pkg $$fn: ended by Go's fuzztime race (golang/go#75804), no failing input: ignored"; \
	    else cat "$$log"; rc=1; fi; \
	  done; \
	done; exit $$rc

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## image: build (or reuse) the reference image
image: build deps
	$(BIN)/zchaos image build

## gate: the main job on the built-in default; BASE=IMAGE builds the reference image on a
## Debian-based image already in the engine (zchaos image build --base) instead of debootstrap
BASE ?=
gate: build deps
	$(BIN)/zchaos gate --baseline $(if $(BASE),--base $(BASE))

clean:
	rm -rf $(BIN) bench.out mutants.out soak.out soak-kill.out soak-out
