# keycloak-fcgi — run `make help` for the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install what building, running and testing need (apt, pip, Swagger UI files)
	scripts/setup.sh

build: ## Release build of the keycloak-fcgi binary
	swift build -c release --static-swift-stdlib --product keycloak-fcgi

run: ## Run the whole local stack (IdP, responder, TLS nginx) and print its URLs
	scripts/run-local.sh

test: ## Every deterministic test, timed by stage: lint, Swift tests, fuzz replay, integration through nginx
	scripts/test.sh

test-unit: ## Swift unit and router tests only
	swift test

test-integration: ## Integration tests only (needs a release build)
	scripts/setup.sh && python3 -m pytest -q -p no:cacheprovider -n 2 --dist loadfile Tests/Integration

lint: ## swift format lint with the repository's .swift-format
	swift format lint --strict -r Sources Tests Fuzz/Targets Package.swift

readme: ## Regenerate the README's configuration table from AppConfiguration.keys
	KEYCLOAK_FCGI_UPDATE_README=1 swift test --filter ConfigurationTable

bench: ## Benchmarks (bench/README.md): keycloak-fcgi vs nginx's limit and the FastAPI peers; memory, start-up
	scripts/setup.sh && swift build -c release --static-swift-stdlib --product keycloak-fcgi && python3 bench/run_all.py && python3 bench/memory.py

fuzz: ## Fuzz every target for 60 s (libFuzzer + ASan; scripts/fuzz.sh SECONDS TARGET... for more; .ci/run does this after make test)
	scripts/setup.sh && scripts/fuzz.sh 60

clean: ## Remove build output and the local run directory
	rm -rf .build .build-* .run

.PHONY: help setup build run test test-unit test-integration lint readme bench fuzz clean
