// One in-memory storage for every oidc-provider model, shared by all Provider instances the
// server builds (key rotation constructs a new Provider; grants, sessions, device codes and
// refresh tokens must survive that).
//
// Unlike oidc-provider's bundled MemoryAdapter this one keeps expired entries for a grace period
// (instead of evicting them at `expiresIn`), so the provider itself can see an expired device code
// and answer `expired_token` rather than `invalid_grant` ("device code not found").

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

export class Storage {
  constructor({ graceSeconds = 600 } = {}) {
    this.graceMs = graceSeconds * 1000;
    this.entries = new Map(); // key -> { payload, dropAt }
    this.grants = new Map(); // grantId -> Set(key)
    this.userCodes = new Map(); // userCode -> id
    this.sessionUids = new Map(); // uid -> id
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  sweep() {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.dropAt <= now) this.entries.delete(key);
    }
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.dropAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  set(key, payload, expiresIn) {
    const dropAt = typeof expiresIn === 'number'
      ? Date.now() + expiresIn * 1000 + this.graceMs
      : Infinity;
    this.entries.set(key, { payload, dropAt });
  }

  counts() {
    const out = {};
    for (const key of this.entries.keys()) {
      const model = key.slice(0, key.indexOf(':'));
      out[model] = (out[model] || 0) + 1;
    }
    return out;
  }

  adapterFactory() {
    return (model) => new SharedAdapter(model, this);
  }
}

class SharedAdapter {
  constructor(model, storage) {
    this.model = model;
    this.s = storage;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    this.s.set(key, structuredClone(payload), expiresIn);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let set = this.s.grants.get(payload.grantId);
      if (!set) {
        set = new Set();
        this.s.grants.set(payload.grantId, set);
      }
      set.add(key);
    }
    if (payload.userCode) this.s.userCodes.set(payload.userCode, id);
    if (this.model === 'Session' && payload.uid) this.s.sessionUids.set(payload.uid, id);
  }

  async find(id) {
    const payload = this.s.get(this.key(id));
    return payload ? structuredClone(payload) : undefined;
  }

  async findByUserCode(userCode) {
    const id = this.s.userCodes.get(userCode);
    return id ? this.find(id) : undefined;
  }

  async findByUid(uid) {
    const id = this.s.sessionUids.get(uid);
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    const payload = this.s.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const payload = this.s.get(key);
    this.s.entries.delete(key);
    if (payload?.userCode && this.s.userCodes.get(payload.userCode) === id) {
      this.s.userCodes.delete(payload.userCode);
    }
    if (payload?.uid && this.s.sessionUids.get(payload.uid) === id) {
      this.s.sessionUids.delete(payload.uid);
    }
  }

  async revokeByGrantId(grantId) {
    const set = this.s.grants.get(grantId);
    if (!set) return;
    const prefix = `${this.model}:`;
    for (const key of [...set]) {
      if (key.startsWith(prefix)) {
        this.s.entries.delete(key);
        set.delete(key);
      }
    }
    if (set.size === 0) this.s.grants.delete(grantId);
  }
}
