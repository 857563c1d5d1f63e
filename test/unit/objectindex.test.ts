/** The operator's informer index: objects found under the keys they have now, and only those. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ObjectIndex } from "../../src/kube/objectindex.ts";

test("an object is found under its keys, moves when they change, and leaves nothing when removed", () => {
  const index = new ObjectIndex();
  index.set("shop/db-0", ["shop/app=db", "shop/leader=true"]);
  index.set("shop/db-1", ["shop/app=db"]);
  assert.deepEqual(index.ids("shop/app=db"), ["shop/db-0", "shop/db-1"]);
  assert.deepEqual(index.ids("shop/leader=true"), ["shop/db-0"]);

  // The label moved from db-0 to db-1: db-0 is no longer found under it.
  index.set("shop/db-0", ["shop/app=db"]);
  index.set("shop/db-1", ["shop/app=db", "shop/leader=true"]);
  assert.deepEqual(index.ids("shop/leader=true"), ["shop/db-1"]);

  index.remove("shop/db-1");
  index.remove("shop/db-1");
  assert.deepEqual(index.ids("shop/leader=true"), []);
  assert.deepEqual(index.ids("shop/app=db"), ["shop/db-0"]);
  index.remove("shop/db-0");
  assert.equal(index.keyCount, 0, "no empty key is kept");
  assert.deepEqual(index.ids("unknown"), []);
});
