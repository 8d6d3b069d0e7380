// `npm run package`: every package from the binaries `npm run build` left in
// dist/: the tarballs, the .debs, the AUR PKGBUILD and .SRCINFO, the Homebrew
// formula, and install.sh beside them as a release asset. Fails before writing
// anything when a binary is missing or does not match dist/SHA256SUMS.
import { copyFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { writeAur } from "./aur.ts";
import { writeBrew } from "./brew.ts";
import { cliDirs, loadBinaries, root, runMain } from "./config.ts";
import { buildDebs } from "./deb.ts";
import { buildTarballs } from "./tarball.ts";

await runMain(async () => {
  const { dist, out } = cliDirs(
    process.argv.slice(2),
    "Usage: npm run package [-- --dist DIR --out DIR]\nBuilds the .debs, tarballs, AUR PKGBUILD/.SRCINFO and Homebrew formula from the binaries of `npm run build`.",
  );
  loadBinaries(dist); // all four, checked, before any output
  const started = performance.now();
  const outputs = [...(await buildTarballs(dist, out)), ...buildDebs(dist, out), ...writeAur(dist, out), writeBrew(dist, out)];
  copyFileSync(join(root, "install/install.sh"), join(out, "install.sh"));
  outputs.push(join(out, "install.sh"));
  for (const f of outputs) {
    const size = statSync(f).size;
    console.log(`${size > 1e6 ? `${(size / 1e6).toFixed(1)} MB` : `${size} B`}`.padStart(10), relative(process.cwd(), f));
  }
  console.log(`packaged in ${((performance.now() - started) / 1000).toFixed(0)} s`);
});
