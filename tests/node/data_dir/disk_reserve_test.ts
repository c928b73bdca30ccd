/**
 * The data directory's disk reserve: written when the disk has room, released by a start on a
 * full disk (a small tmpfs, when the tests run as root), left alone otherwise.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { getLog } from "../../../src/core/log.ts";
import { diskReserveBytes } from "../../../src/core/limits.ts";
import { DATA_DIR_FILES } from "../../../src/node/data_dir/paths.ts";
import {
  keepDiskReserve,
  releaseDiskReserveWhenFull,
} from "../../../src/node/data_dir/disk_reserve.ts";
import { withTempDir } from "../../_rhizome.ts";
import { freeBytes, tmpfsUnavailable, withTmpfs } from "../../_tmpfs.ts";

const tmpfsSkipped = await tmpfsUnavailable();
if (tmpfsSkipped) console.log(`skipping the full-disk reserve test: ${tmpfsSkipped}`);
const log = getLog("test");

Deno.test("the reserve is written once when the disk has room, and kept while it has", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, DATA_DIR_FILES.reserve);
    await keepDiskReserve(directory, log);
    assert.equal((await Deno.stat(path)).size, diskReserveBytes);
    await releaseDiskReserveWhenFull(directory, log);
    assert.equal((await Deno.stat(path)).size, diskReserveBytes);
    await keepDiskReserve(directory, log);
    assert.equal((await Deno.stat(path)).size, diskReserveBytes);
  });
});

Deno.test({
  name: "a full disk releases the reserve, and it is not taken back until there is room",
  ignore: tmpfsSkipped !== undefined,
  async fn() {
    await withTmpfs(8 * 1024 * 1024, async (directory) => {
      const path = join(directory, DATA_DIR_FILES.reserve);
      await keepDiskReserve(directory, log);
      assert.equal((await Deno.stat(path)).size, diskReserveBytes);
      const ballast = join(directory, "ballast");
      await new Deno.Command("dd", {
        args: ["if=/dev/zero", `of=${ballast}`, "bs=64k"],
        stdout: "null",
        stderr: "null",
      }).output();
      assert.ok(await freeBytes(directory) < 64 * 1024);
      await releaseDiskReserveWhenFull(directory, log);
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
      assert.ok(await freeBytes(directory) >= diskReserveBytes);
      // Room for the start's files, not for the reserve and the store's margin: not retaken.
      await keepDiskReserve(directory, log);
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
      await Deno.remove(ballast);
      await keepDiskReserve(directory, log);
      assert.equal((await Deno.stat(path)).size, diskReserveBytes);
    });
  },
});
