# The two commands (see README.md):
#   make run    build taskhub and run every service on http://localhost:5000 (SQLite in ./data)
#   make test   build and run every test: unit, API (SQLite and PostgreSQL), ASan+UBSan, docs
# Both install missing Debian and npm dependencies first (scripts/setup).
.PHONY: run test

run:
	@scripts/run $(ARGS)

test:
	@scripts/test
