# The two commands of the README, and the steps they share. Each installs what it needs.
.PHONY: demo cluster cluster-down test tools

NODE_MODULES := node_modules/.package-lock.json

# The main job: elector end to end on a real local control plane, leadership moving as leaders die.
demo: $(NODE_MODULES) tools
	npm run --silent demo

# A real local control plane, left running; prints the kubeconfig path last.
cluster: $(NODE_MODULES) tools
	npm run --silent cluster -- up

cluster-down: $(NODE_MODULES)
	npm run --silent cluster -- down

# Every check: lint, typecheck, unit and integration tests on a fresh control plane.
test: $(NODE_MODULES) tools
	npm test

$(NODE_MODULES): package.json package-lock.json
	npm ci

tools:
	@command -v go >/dev/null || { echo "Go (1.26) is needed to build the local control plane from Go modules" >&2; exit 1; }
	@command -v openssl >/dev/null || { apt-get update && apt-get install -y openssl; }
