// Validates the custom resources in rendered Kubernetes YAML (the Prometheus operator's
// ServiceMonitor, CloudNativePG's Cluster) against their published resource models, which
// kubernetes-validate does not know. Usage: node crd-validate.mjs FILE...
// Exits non-zero naming each resource that does not hold, or a resource of those API groups
// it has no model for.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const models = {
  "monitoring.coreos.com/v1": await import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"),
  "postgresql.cnpg.io/v1": await import("@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1"),
};
let failed = false;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.log(`ERROR ${file}: YAML: ${doc.errors[0].message}`);
      failed = true;
      continue;
    }
    const resource = doc.toJS();
    if (!resource || !resource.apiVersion) continue;
    const group = resource.apiVersion.split("/")[0];
    const ours = Object.keys(models).some((k) => k.startsWith(group + "/"));
    const Model = models[resource.apiVersion]?.[resource.kind];
    const name = `${resource.kind}/${resource.metadata?.name}`;
    if (!Model) {
      if (ours) {
        console.log(`ERROR ${file}: no model for ${resource.apiVersion} ${resource.kind}`);
        failed = true;
      }
      continue;
    }
    try {
      new Model(resource).validate();
      console.log(`ok ${name}`);
    } catch (e) {
      console.log(`ERROR ${file}: ${name}: ${e.message}`);
      failed = true;
    }
  }
}
process.exit(failed ? 1 : 0);
