-- At most one current signing key. Replicas starting together on an empty database could
-- each make a first key current; the newest stays current, the others become published
-- keys that were once current (activated_at set), never candidates for a later rotation.
UPDATE signing_keys SET state = 'published'
 WHERE state = 'current'
   AND kid <> (SELECT kid FROM signing_keys WHERE state = 'current'
               ORDER BY activated_at DESC, created_at DESC, kid DESC LIMIT 1);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
