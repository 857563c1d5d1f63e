/**
 * Container images without a registry: buildah builds them (rootful, chroot isolation, its own
 * storage in the cache, `--pull=never`) inside a private mount and PID namespace, so that nothing
 * it mounts is seen by the machine; a Docker archive of each is what the node's containerd imports.
 *
 * - the pod sandbox, `pause` (pause/main.go) in an image of one file;
 * - the two base images the Dockerfile names, as faithful local stand-ins made from Debian 13
 *   packages (debootstrap) and Node 24 from npm: `node:24-trixie-slim` (Debian with node and npm
 *   in /usr/local) and `gcr.io/distroless/nodejs24-debian13:nonroot` (the files of the packages
 *   distroless takes, the nonroot user 65532, /nodejs/bin/node);
 * - `debian:trixie-slim`, the minimal Debian alone: an app image without Node, as
 *   examples/wrapper-any-image.yaml runs the single executable in;
 * - `elector:dev`, from the repository's Dockerfile, the one description of elector's image.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, copyFile, lstat, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOnce, cacheRoot } from "./build.ts";
import { ensureNodePackages, PAUSE_IMAGE } from "./node.ts";
import { NPM_VERSION } from "./versions.ts";

export const NODE_BASE = "docker.io/library/node:24-trixie-slim";
export const DISTROLESS_BASE = "gcr.io/distroless/nodejs24-debian13:nonroot";
export const DEBIAN_IMAGE = "docker.io/library/debian:trixie-slim";
export const ELECTOR_IMAGE = "docker.io/library/elector:dev";
/** The Dockerfile's build stage, tagged so that its layers stay cached (buildElectorImage). */
const BUILD_STAGE_CACHE = "localhost/elector/build-stage:dev";
/** The repository, the build context of elector's image. */
const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** Where `npm run image` leaves the archive of the image built from this working tree. */
export const ELECTOR_ARCHIVE = join(REPO, "dist", "image", "elector-dev.tar");

const imagesDir = (): string => join(cacheRoot(), "images");

function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, cwd, maxBuffer: 256 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.slice(0, 14).join(" ")} failed: ${stderr.trim().split("\n").slice(-20).join("\n") || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * Runs a command in a private mount and PID namespace whose /run is a tmpfs and whose /var/lib
 * and /etc take writes in overlays on it: a private mount namespace still shares the host's file
 * systems, where util-linux's mount records what it mounted (/run/mount/utab), and buildah keeps a
 * blob cache (/var/lib/containers/cache) whatever its --root says and sets up its network backend
 * (/etc/cni/net.d) even when no step uses it.
 */
function privately(command: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<string> {
  const script = [
    "mount -n -t tmpfs -o mode=0755 tmpfs /run",
    ...["var/lib", "etc"].map((dir) => {
      const upper = `/run/${dir.replace("/", "-")}`;
      return `mkdir ${upper} ${upper}-work && mount -n -t overlay overlay -o lowerdir=/${dir},upperdir=${upper},workdir=${upper}-work /${dir}`;
    }),
    'exec "$@"',
  ].join(" && ");
  return exec("unshare", ["--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh", ...command], env, cwd);
}

/** buildah with the project's storage, privately. */
async function buildah(args: string[], cwd?: string): Promise<string> {
  const dir = imagesDir();
  await mkdir(join(dir, "tmp"), { recursive: true });
  const env = { ...process.env, TMPDIR: join(dir, "tmp"), BUILDAH_ISOLATION: "chroot" };
  return privately(["buildah", "--root", join(dir, "storage"), "--runroot", join(dir, "run"), "--storage-driver", "vfs", ...args], env, cwd);
}

/** The label a base stand-in carries: what it was made from, so that a change of either remakes it. */
const STAND_IN_LABEL = "elector.dev/stand-in";

/** Whether image `name` exists and carries `label` = `value`. */
const hasImage = (name: string, label: string, value: string): Promise<boolean> =>
  buildah(["inspect", "--type", "image", "--format", `{{index .OCIv1.Config.Labels "${label}"}}`, name]).then(
    (found) => found.trim() === value,
    () => false,
  );

/** The archive of the pod sandbox image holding `pause`, built once per build of the binary. */
export async function ensurePauseImage(pause: string, log: (line: string) => void): Promise<string> {
  const hash = createHash("sha256")
    .update(await readFile(pause))
    .digest("hex")
    .slice(0, 12);
  const dir = join(imagesDir(), `pause-${hash}`);
  await buildOnce(dir, "the pause image", log, async (_work, out) => {
    await binaryImage(PAUSE_IMAGE, pause, join(out, "pause.tar"), "65535:65535");
  });
  return join(dir, "bin", "pause.tar");
}

/**
 * An image `name` of one static binary, as /<its file name> and the ENTRYPOINT, run as `user`
 * (the image's default, root, when not given); its archive is written to `archive`.
 */
export async function binaryImage(name: string, binary: string, archive: string, user?: string): Promise<string> {
  const context = `${archive}.context`;
  const file = basename(binary);
  await mkdir(context, { recursive: true });
  await copyFile(binary, join(context, file));
  await writeFile(join(context, "Containerfile"), `FROM scratch\nCOPY ${file} /${file}\n${user ? `USER ${user}\n` : ""}ENTRYPOINT ["/${file}"]\n`);
  await buildImage(name, context, "Containerfile", archive);
  await rm(context, { recursive: true });
  return archive;
}

/** A Debian 13 (trixie) minimal root file system, from the machine's Debian mirror. */
async function trixieRootfs(log: (line: string) => void): Promise<string> {
  const dir = join(imagesDir(), "debian13-rootfs");
  await buildOnce(dir, "a Debian 13 root file system (debootstrap)", log, async (_work, out) => {
    const sources = await readFile("/etc/apt/sources.list.d/debian.sources", "utf8").catch(() => "");
    const mirror = /^URIs:\s*(\S+\/debian)\s*$/m.exec(sources)?.[1] ?? "http://deb.debian.org/debian";
    // debootstrap mounts /proc and /sys in its target: privately, so the machine never sees it.
    await privately(["debootstrap", "--variant=minbase", "--include=ca-certificates,tzdata,netbase", "trixie", out, mirror]);
  });
  return join(dir, "bin");
}

/** Node 24's binary, from the exact-pinned `node` devDependency, and npm's package tarball from npm. */
async function nodeAndNpm(): Promise<{ node: string; npm: string }> {
  const node = join(REPO, "node_modules", "node", "bin", "node");
  const npmDir = join(imagesDir(), `npm-${NPM_VERSION}`);
  const npm = join(npmDir, `npm-${NPM_VERSION}.tgz`);
  if (!existsSync(npm)) {
    await mkdir(npmDir, { recursive: true });
    await exec("npm", ["pack", `npm@${NPM_VERSION}`, "--pack-destination", npmDir, "--silent"]);
  }
  return { node, npm };
}

/** The Dockerfile's two base images and debian:trixie-slim, made locally (see the top of this file). */
export async function ensureBaseImages(log: (line: string) => void): Promise<void> {
  await ensureNodePackages(log);
  const { node, npm } = await nodeAndNpm();
  const nodeVersion = (JSON.parse(await readFile(join(REPO, "node_modules", "node", "package.json"), "utf8")) as { version: string }).version;
  const madeFrom = `debian13 node${nodeVersion} npm${NPM_VERSION}`;
  const made = await Promise.all([NODE_BASE, DISTROLESS_BASE, DEBIAN_IMAGE].map((name) => hasImage(name, STAND_IN_LABEL, madeFrom)));
  if (made.every(Boolean)) return;
  const rootfs = await trixieRootfs(log);
  const label = ["--label", `${STAND_IN_LABEL}=${madeFrom}`];
  const work = join(imagesDir(), "base-work");
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  log("making the base images node:24-trixie-slim, distroless nodejs24-debian13:nonroot and debian:trixie-slim");
  await commit(DEBIAN_IMAGE, [rootfs], [...label, "--cmd", '["bash"]', "--workingdir", "/"]);

  // node:24-trixie-slim: the whole minimal Debian, node and npm under /usr/local as the official image has them.
  const slim = join(work, "slim");
  await mkdir(join(slim, "usr/local/bin"), { recursive: true });
  await mkdir(join(slim, "usr/local/lib/node_modules"), { recursive: true });
  await copyFile(node, join(slim, "usr/local/bin/node"));
  await exec("tar", ["-xzf", npm, "-C", join(slim, "usr/local/lib/node_modules")]);
  await rename(join(slim, "usr/local/lib/node_modules/package"), join(slim, "usr/local/lib/node_modules/npm"));
  await symlink("../lib/node_modules/npm/bin/npm-cli.js", join(slim, "usr/local/bin/npm"));
  await symlink("../lib/node_modules/npm/bin/npx-cli.js", join(slim, "usr/local/bin/npx"));
  await commit(NODE_BASE, [rootfs, slim], [...label, "--cmd", '["node"]', "--env", "NODE_VERSION=24", "--workingdir", "/"]);

  // distroless: only the files of the packages it is made of, a passwd with nonroot, Node in /nodejs.
  const distroless = join(work, "distroless");
  for (const pkg of ["base-files", "netbase", "tzdata", "libc6", "libgcc-s1", "libstdc++6"]) {
    await copyPackageFiles(rootfs, pkg, distroless);
  }
  for (const f of ["etc/ssl/certs/ca-certificates.crt"]) {
    await mkdir(dirname(join(distroless, f)), { recursive: true });
    await copyFile(join(rootfs, f), join(distroless, f));
  }
  await writeFile(
    join(distroless, "etc/passwd"),
    "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
  );
  await writeFile(join(distroless, "etc/group"), "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n");
  for (const d of ["tmp", "home/nonroot", "root", "nodejs/bin"]) await mkdir(join(distroless, d), { recursive: true });
  await chmod(join(distroless, "tmp"), 0o1777);
  await chown(join(distroless, "home/nonroot"), 65532, 65532);
  await copyFile(node, join(distroless, "nodejs/bin/node"));
  await commit(
    DISTROLESS_BASE,
    [distroless],
    [
      ...label,
      "--user",
      "65532:65532",
      "--workingdir",
      "/home/nonroot",
      "--entrypoint",
      '["/nodejs/bin/node"]',
      "--env",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "--env",
      "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    ],
  );
  await rm(work, { recursive: true, force: true });
}

/** A root file system of Debian 13's C library alone, without libstdc++: where the single executable cannot run. */
export async function libcOnlyRoot(into: string): Promise<void> {
  const rootfs = await trixieRootfs(() => undefined);
  for (const pkg of ["base-files", "libc6"]) await copyPackageFiles(rootfs, pkg, into);
}

/**
 * Copies the files and links a Debian package installed in `rootfs` (its dpkg file list) to `into`.
 * Debian 13 is merged-/usr: /lib64, /lib, /bin and /sbin are links into /usr, so listed paths
 * below them are copied to where they really are, and the links are made once.
 */
async function copyPackageFiles(rootfs: string, pkg: string, into: string): Promise<void> {
  const info = join(rootfs, "var/lib/dpkg/info");
  const list = await readFile(join(info, `${pkg}:amd64.list`), "utf8").catch(() => readFile(join(info, `${pkg}.list`), "utf8"));
  const merged = new Map<string, string>();
  for (const top of ["lib", "lib64", "bin", "sbin"]) {
    if ((await lstat(join(rootfs, top)).catch(() => undefined))?.isSymbolicLink()) merged.set(top, await readlink(join(rootfs, top)));
  }
  for (const path of list.split("\n").filter((p) => p && p !== "/.")) {
    const [top = "", ...rest] = path.slice(1).split("/");
    const usr = merged.get(top);
    if (usr !== undefined && rest.length === 0) continue;
    const real = usr === undefined ? path : join("/", usr, ...rest);
    const from = join(rootfs, real);
    const to = join(into, real);
    const st = await lstat(from).catch(() => undefined);
    if (!st || st.isDirectory() || existsSync(to)) continue;
    await mkdir(dirname(to), { recursive: true });
    if (st.isSymbolicLink()) await symlink(await readlink(from), to);
    else await copyFile(from, to);
  }
  for (const [top, usr] of merged) {
    if (!(await lstat(join(into, top)).catch(() => undefined))) await symlink(usr, join(into, top));
  }
}

/**
 * An image of `layers` (folders added at / in order, as tar archives so that owners and modes stay
 * as they are) with `config` (buildah config flags), named `name`.
 */
async function commit(name: string, layers: string[], config: string[]): Promise<void> {
  const container = (await buildah(["from", "--pull=never", "scratch"])).trim();
  try {
    for (const layer of layers) {
      const archive = `${layer}.tar`;
      await exec("tar", ["-C", layer, "-cf", archive, "."]);
      await buildah(["add", "--quiet", container, archive, "/"]);
      await rm(archive);
    }
    await buildah(["config", ...config, container]);
    await buildah(["commit", "--quiet", "--rm", container, name]);
  } catch (err) {
    await buildah(["rm", container]).catch(() => undefined);
    throw err;
  }
}

/** Builds elector's image from the Dockerfile and leaves its archive at ELECTOR_ARCHIVE. */
export async function buildElectorImage(log: (line: string) => void): Promise<string> {
  await ensureBaseImages(log);
  const started = Date.now();
  log("building elector:dev from the Dockerfile (buildah, --pull=never)");
  await buildImage(ELECTOR_IMAGE, REPO, "Dockerfile", ELECTOR_ARCHIVE);
  // The build stage tagged too (from the layers just built): the prune below keeps what a tagged
  // image is built on, and so the cached npm ci layer, which the final stage only copies from.
  await buildah(
    [
      "bud",
      "--pull=never",
      "--layers",
      "--network",
      "host",
      "--quiet",
      ...(await trustThisMachinesCAs()),
      "--target",
      "build",
      "-t",
      BUILD_STAGE_CACHE,
      "-f",
      "Dockerfile",
      ".",
    ],
    REPO,
  );
  // vfs keeps a full copy of the root file system for every layer, and each build leaves the last
  // one's layers behind: 16 GB after a day's builds here. Images nothing tagged is built on go.
  await buildah(["rmi", "--prune"]).catch((err: unknown) => {
    log(`could not prune buildah's storage (it goes on growing): ${err instanceof Error ? err.message : String(err)}`);
  });
  log(`built elector:dev in ${String(Math.round((Date.now() - started) / 1000))} s`);
  return ELECTOR_ARCHIVE;
}

/**
 * Builds `name` from `containerfile` in `context` (its FROM images must be local: the base images,
 * elector:dev) and writes its Docker archive to `archive`.
 */
export async function buildImage(name: string, context: string, containerfile: string, archive: string): Promise<string> {
  // --force-rm: a failed step's working container would keep its layers from every prune.
  // --network host: a RUN step (npm ci) uses the machine's network as it is. buildah's default
  // gives each step a CNI bridge in the host's network namespace (cni-podman0, iptables chains,
  // ip_forward=1), which a private mount namespace does not contain.
  await buildah(
    ["bud", "--pull=never", "--layers", "--force-rm", "--network", "host", "--quiet", ...(await trustThisMachinesCAs()), "-t", name, "-f", containerfile, "."],
    context,
  );
  return saveImage(name, archive);
}

/** Writes image `name`'s Docker archive, what a node's containerd imports, to `archive`. */
export async function saveImage(name: string, archive: string): Promise<string> {
  await mkdir(dirname(archive), { recursive: true });
  await rm(archive, { force: true });
  await buildah(["push", "--quiet", name, `docker-archive:${archive}:${name}`]);
  return archive;
}

/** What `buildah inspect` says of an image's configuration. */
export interface ImageConfig {
  entrypoint: string[];
  user: string;
  workingDir: string;
}

export async function imageConfig(name: string): Promise<ImageConfig> {
  const inspected = JSON.parse(await buildah(["inspect", "--type", "image", name])) as {
    OCIv1: { config: { Entrypoint?: string[]; User?: string; WorkingDir?: string } };
  };
  const c = inspected.OCIv1.config;
  return { entrypoint: c.Entrypoint ?? [], user: c.User ?? "", workingDir: c.WorkingDir ?? "" };
}

/**
 * Runs `work` with a working container of image `name`: its root folder (the vfs driver keeps
 * it as a plain folder), and a way to run a command in it as the image's user would.
 */
export async function withImage<T>(name: string, work: (root: string, run: (command: string[]) => Promise<string>) => Promise<T>): Promise<T> {
  const container = (await buildah(["from", "--pull=never", name])).trim();
  try {
    const root = (await buildah(["mount", container])).trim();
    const { user } = await imageConfig(name);
    return await work(root, (command) => buildah(["run", "--user", user || "0:0", container, "--", ...command]));
  } finally {
    await buildah(["rm", container]).catch(() => undefined);
  }
}

/**
 * Volumes that make the build's npm trust what this machine trusts (here, the CA of a
 * TLS-intercepting proxy in front of the npm registry): the machine's CA bundle and an .npmrc
 * naming it, mounted into RUN steps only, so neither enters the image nor the Dockerfile.
 */
async function trustThisMachinesCAs(): Promise<string[]> {
  const bundle = "/etc/ssl/certs/ca-certificates.crt";
  if (!existsSync(bundle)) return [];
  const npmrc = join(imagesDir(), "build.npmrc");
  await writeFile(npmrc, "cafile=/tmp/build-host-ca.crt\n");
  return ["--volume", `${bundle}:/tmp/build-host-ca.crt:ro`, "--volume", `${npmrc}:/root/.npmrc:ro`];
}

/** Loads an image archive into a node's containerd (its socket is reachable from the host). */
export async function importImage(containerdSocket: string, archive: string): Promise<void> {
  await exec("ctr", ["--address", containerdSocket, "--namespace", "k8s.io", "images", "import", archive]);
}
