/**
 * Which objects are filed under which keys, kept current as objects change: client-go's Indexer
 * without the storage (the informer's cache holds the objects). An object is named by an id.
 */
export class ObjectIndex {
  private readonly idsByKey = new Map<string, Set<string>>();
  private readonly keysById = new Map<string, readonly string[]>();

  /** Files `id` under exactly `keys`, and nowhere it was filed before. */
  set(id: string, keys: readonly string[]): void {
    this.remove(id);
    this.keysById.set(id, keys);
    for (const key of keys) {
      const ids = this.idsByKey.get(key);
      if (ids) ids.add(id);
      else this.idsByKey.set(key, new Set([id]));
    }
  }

  remove(id: string): void {
    for (const key of this.keysById.get(id) ?? []) {
      const ids = this.idsByKey.get(key);
      ids?.delete(id);
      if (ids?.size === 0) this.idsByKey.delete(key);
    }
    this.keysById.delete(id);
  }

  /** The ids filed under `key`. */
  ids(key: string): readonly string[] {
    return [...(this.idsByKey.get(key) ?? [])];
  }

  /** How many keys have anything filed under them: for tests, to see nothing is left behind. */
  get keyCount(): number {
    return this.idsByKey.size;
  }
}
