-- The device list's answer cache (kandian/core/fleet.py ListCache): every node LISTENs on kandian_fleet and drops
-- its cached pages when told.  NOTIFY is transactional: sent at commit (never for a rollback), and one
-- transaction's identical notifications are one.  Only what a page shows or filters on by name, owner or shape
-- notifies; online, last_seen_at, the addresses and the abilities do not: they change on every login and
-- heartbeat, and a page may show them up to the cache's time to live old (docs/rest-api.md "Devices").
CREATE FUNCTION kandian_fleet_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kandian_fleet', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER device_listed_added AFTER INSERT OR DELETE ON device
    FOR EACH ROW EXECUTE FUNCTION kandian_fleet_changed();
-- UPDATE OF: a login's UPDATE sets dev_ver (the same value, mostly) and none of the others, so the WHEN is the
-- only work it costs
CREATE TRIGGER device_listed_changed AFTER UPDATE OF name, dev_type, model, manufacturer_no, dev_ver, created_at
    ON device FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.dev_type IS DISTINCT FROM NEW.dev_type
          OR OLD.model IS DISTINCT FROM NEW.model OR OLD.manufacturer_no IS DISTINCT FROM NEW.manufacturer_no
          OR OLD.dev_ver IS DISTINCT FROM NEW.dev_ver OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION kandian_fleet_changed();

-- a page counts channels: an ability report's INSERT … ON CONFLICT DO NOTHING inserts (and fires for) none
-- when the channels are already there
CREATE TRIGGER channel_listed AFTER INSERT OR DELETE ON channel
    FOR EACH ROW EXECUTE FUNCTION kandian_fleet_changed();

-- the owner's mobile, a user's own list and its access
CREATE TRIGGER user_device_listed AFTER INSERT OR DELETE ON user_device
    FOR EACH ROW EXECUTE FUNCTION kandian_fleet_changed();
CREATE TRIGGER user_device_listed_changed AFTER UPDATE ON user_device FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.dev_id IS DISTINCT FROM NEW.dev_id
          OR OLD.share_flag IS DISTINCT FROM NEW.share_flag OR OLD.can_control IS DISTINCT FROM NEW.can_control)
    EXECUTE FUNCTION kandian_fleet_changed();
CREATE TRIGGER app_user_listed AFTER UPDATE OF mobile ON app_user FOR EACH ROW
    WHEN (OLD.mobile IS DISTINCT FROM NEW.mobile)
    EXECUTE FUNCTION kandian_fleet_changed();

CREATE TRIGGER manufacturer_listed AFTER INSERT OR UPDATE OR DELETE ON manufacturer
    FOR EACH ROW EXECUTE FUNCTION kandian_fleet_changed();

-- TRUNCATE fires no row trigger
CREATE TRIGGER device_listed_truncated AFTER TRUNCATE ON device
    FOR EACH STATEMENT EXECUTE FUNCTION kandian_fleet_changed();
CREATE TRIGGER channel_listed_truncated AFTER TRUNCATE ON channel
    FOR EACH STATEMENT EXECUTE FUNCTION kandian_fleet_changed();
CREATE TRIGGER user_device_listed_truncated AFTER TRUNCATE ON user_device
    FOR EACH STATEMENT EXECUTE FUNCTION kandian_fleet_changed();
CREATE TRIGGER manufacturer_listed_truncated AFTER TRUNCATE ON manufacturer
    FOR EACH STATEMENT EXECUTE FUNCTION kandian_fleet_changed();
