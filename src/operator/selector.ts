/** Label selectors as Kubernetes evaluates them, for the candidates of an Election. */
import type { LabelSelector } from "./election.ts";

export function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const value = labels[key] ?? "";
    const ok = operator === "In" ? has && values.includes(value) : operator === "NotIn" ? !has || !values.includes(value) : operator === "Exists" ? has : !has;
    if (!ok) return false;
  }
  return true;
}

/** The selector in the API's query syntax, for a live list of the same pods. */
export function selectorQuery(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    if (operator === "In") parts.push(`${key} in (${values.join(",")})`);
    else if (operator === "NotIn") parts.push(`${key} notin (${values.join(",")})`);
    else if (operator === "Exists") parts.push(key);
    else parts.push(`!${key}`);
  }
  return parts.join(",");
}
