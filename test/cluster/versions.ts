/**
 * The pinned versions of the local control plane. Changing a version makes the next `up`
 * build it afresh into its own cache folder; older builds stay until removed by hand.
 */
export const KUBERNETES_VERSION = "1.36.3";
export const ETCD_VERSION = "3.6.16";
/** helm, for the chart's tests (lint, template, install), built from helm.sh/helm/v4 like the rest. */
export const HELM_VERSION = "4.3.1";
/** npm in the local stand-in of the `node:24-trixie-slim` base image (packed from the npm registry). */
export const NPM_VERSION = "11.21.2";
