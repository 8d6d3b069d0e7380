// Starts a hub's NATS side from its settings: plain (nats + optional
// nats_creds/nats_ca) or with a fleet authority, whose servers, hub.creds and
// CA it uses and whose enrollments it answers (`lmcp join`).
import { ConfigError } from "../config/file.ts";
import type { HubSettings } from "../config/hub.ts";
import { logEvent } from "../http/log.ts";
import { Authority } from "./authority.ts";
import { loadNatsAuth } from "./connection.ts";
import { answerEnrollments, pushAccount } from "./enrollment.ts";
import { NatsFleet } from "./hub_link.ts";

export function startNatsFleet(settings: HubSettings): NatsFleet | undefined {
  if (!settings.natsAuthority) {
    if (!settings.nats) return undefined;
    return new NatsFleet({ servers: settings.nats, name: settings.name, auth: loadNatsAuth(settings.natsAuth) });
  }
  if (settings.natsAuth.credsFile || settings.natsAuth.caFile) {
    throw new ConfigError("nats_authority already gives the hub its credentials and CA; drop nats_creds and nats_ca (or drop nats_authority)");
  }
  const authority = Authority.open(settings.natsAuthority);
  const servers = settings.nats ?? authority.servers;
  const ca = authority.ca();
  const fleet = new NatsFleet({ servers, name: settings.name, auth: { creds: authority.hubCreds(), ca } });
  fleet.ready.then(
    (nc) => {
      answerEnrollments(nc, authority, (jwt) => pushAccount(servers, authority.systemCreds(), ca, jwt).then(() => authority.refreshPreload(jwt)));
      logEvent(`fleet: answering joins for the authority in ${settings.natsAuthority}`);
    },
    () => {},
  );
  return fleet;
}
