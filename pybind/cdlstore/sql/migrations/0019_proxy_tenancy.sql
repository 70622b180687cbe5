-- Tenancy through the PL/Proxy proxy (docs/scale-out.md). The proxy's login names each caller's
-- tenant on the shards (cdl.as_tenant), and names none for an administrator's sweep, so it must
-- be an administrator there: every member of cdlstore_proxy is one, through cdlstore_tenant_admin.
-- The proxy's login then needs cdlstore_proxy alone, and no superuser. Roles are cluster-wide:
-- the grant holds for every database of the server (as cdlstore_proxy itself does).
GRANT cdlstore_tenant_admin TO cdlstore_proxy;
