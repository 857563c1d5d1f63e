/**
 * The pinned versions of the local control plane. Changing a version makes the next `up`
 * build it afresh into its own cache folder; older builds stay until removed by hand.
 */
export const KUBERNETES_VERSION = "1.36.3";
export const ETCD_VERSION = "3.6.16";
