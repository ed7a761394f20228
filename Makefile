# zchaos — see README.md.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build test test-unit test-race test-docker bench lint image gate clean

all: lint build test

## build: static binaries (CGO_ENABLED=0) into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/zchaos ./cmd/zinit ./cmd/herosim

## test: every test, Docker tests included (they skip, loudly, only when no engine answers)
test: build
	$(GO) test -count=1 -timeout 60m $(PKGS)

## test-unit: tests that need no Docker engine
test-unit:
	ZCHAOS_NO_DOCKER=1 $(GO) test -count=1 -short $(PKGS)

## test-race: unit tests under the race detector
test-race:
	ZCHAOS_NO_DOCKER=1 $(GO) test -count=1 -short -race $(PKGS)

## test-docker: only the Docker integration tests
test-docker: build
	$(GO) test -count=1 -timeout 60m -run 'Docker' $(PKGS)

## bench: every benchmark, printed as a table
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m $(PKGS) | tee bench.out

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## image: build (or reuse) the reference image
image: build
	$(BIN)/zchaos image build

## gate: the main job on the built-in default
gate: build
	$(BIN)/zchaos gate --baseline

clean:
	rm -rf $(BIN) bench.out
