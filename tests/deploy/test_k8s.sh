#!/usr/bin/env bash
# Checks deploy/k8s/ offline (TAP): every manifest against the Kubernetes schema bundled in the npm
# package kubernetes-models (tests/node_modules, deploy/dev/deps.sh npm), strict unknown-field
# validation, and the cross-object rules of tests/deploy/check_k8s.js.
# Environment: BUILD (default build), DEPLOY (default deploy; a copy to try broken manifests on).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
. tests/deploy/tap.sh
BUILD=${BUILD:-build}
DEPLOY=${DEPLOY:-deploy}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deploy-k8s.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

if [[ ! -d tests/node_modules/kubernetes-models || ! -d tests/node_modules/yaml ]]; then
	not_ok "npm packages kubernetes-models and yaml are installed (deploy/dev/deps.sh npm)"
	tap_end
	exit
fi
if [[ ! -x $BUILD/gatewayd ]]; then
	not_ok "$BUILD/gatewayd exists (run make first)"
	tap_end
	exit
fi
"$BUILD/gatewayd" config >"$tmp/config.md"
helper "Kubernetes manifests" node tests/deploy/check_k8s.js "$DEPLOY/k8s" "$tmp/config.md" \
	"$DEPLOY/container/Containerfile"
tap_end
