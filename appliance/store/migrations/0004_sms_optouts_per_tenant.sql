-- 0004: opt-outs per business (several tenants on one box, docs/SMS.md "Several businesses"):
-- STOP to one business does not stop another's texts, so a number may be on several tenants'
-- lists. The key becomes (phone, tenant_id); the rows are kept. Keep in step with appliance/store/models.py.

CREATE TABLE sms_optouts_new (
    phone       TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    keyword     TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (phone, tenant_id)
);
INSERT INTO sms_optouts_new (phone, tenant_id, keyword, created_at)
    SELECT phone, tenant_id, keyword, created_at FROM sms_optouts;
DROP TABLE sms_optouts;
ALTER TABLE sms_optouts_new RENAME TO sms_optouts;
