// Which tags a hub believes: only those a JWT signed by the hub's own fleet
// account gives the announcing host's name (src/nats/host_claims.ts).
import { describe, expect, test } from "bun:test";
import { createAccount, createUser, encodeUser, fmtCreds } from "@nats-io/jwt";
import { HostClaims, jwtOfCreds } from "../../src/nats/host_claims.ts";
import type { Announcement } from "../../src/nats/wire.ts";

const account = createAccount();
const other = createAccount();

async function hubClaims(): Promise<HostClaims> {
  const hub = createUser();
  return HostClaims.fromHubCreds(fmtCreds(await encodeUser("hub", hub, account), hub));
}

const ann = (name: string, tags: string[], jwt?: string): Announcement => ({ v: 1, name, tags, version: "0", instance: "i", every_ms: 5000, state: "up", ...(jwt ? { jwt } : {}) });

describe("HostClaims", () => {
  test("tags come from the JWT the fleet account signed for that name, whatever the announcement says", async () => {
    const c = await hubClaims();
    const jwt = await encodeUser("web1", createUser(), account, { tags: ["web"] });
    expect(c.vouch(ann("web1", ["web", "prod"], jwt)).tags).toEqual(["web"]);
  });

  test("no JWT, another name's JWT, another account's, or a tampered one: no tags", async () => {
    const c = await hubClaims();
    const forDb = await encodeUser("db1", createUser(), account, { tags: ["prod"] });
    const foreign = await encodeUser("web1", createUser(), other, { tags: ["prod"] });
    const [h, p, s] = (await encodeUser("web1", createUser(), account, { tags: ["web"] })).split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    claims.nats.tags = ["prod"];
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    for (const jwt of [undefined, forDb, foreign, tampered, "not.a.jwt"]) expect(c.vouch(ann("web1", ["prod"], jwt)).tags).toEqual([]);
  });

  test("a hub without fleet credentials takes announcements as they are", () => {
    expect(HostClaims.fromHubCreds(undefined).vouch(ann("web1", ["prod"])).tags).toEqual(["prod"]);
  });

  test("jwtOfCreds finds the JWT in a creds file", async () => {
    const u = createUser();
    const jwt = await encodeUser("x", u, account);
    expect(jwtOfCreds(fmtCreds(jwt, u))).toBe(jwt);
    expect(jwtOfCreds(new TextEncoder().encode("nothing here"))).toBeUndefined();
  });
});
