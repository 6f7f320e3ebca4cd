/*
 * Stage "inventory" (REMOTEEXEC.md §6.3): arbitrary-toolchain requests
 * only; dimensions against the platform; unsafe platform properties; the
 * non-arbitrary-toolchain answer that makes the client fall back.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>

static const char *rx_exec_safe_props[] = {
    "container-image", "InputRootAbsolutePath", "cache-silo"};

/* §6.3 non-arbitrary path: BAD_REQUEST with the request's compiler, no
 * binary_hash: the client disables remote compiles of this compiler. */
static rx_int_t
rx_exec_not_arbitrary(rx_exec_t *x)
{
    DevtoolsGoma__CommandSpec     *cs = rx_pcalloc(x->pool, sizeof(*cs));
    DevtoolsGoma__CommandSpec     *in = x->req->command_spec;
    DevtoolsGoma__SubprogramSpec **sp;
    size_t                         i;

    if (cs == NULL) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    devtools_goma__command_spec__init(cs);
    if (in) {
        cs->name = in->name;
        cs->version = in->version;
        cs->target = in->target;
    }
    x->result->command_spec = cs;
    sp = rx_pcalloc(x->pool, (x->req->n_subprogram + 1) * sizeof(*sp));
    for (i = 0; sp && i < x->req->n_subprogram; i++) {
        sp[i] = rx_pcalloc(x->pool, sizeof(DevtoolsGoma__SubprogramSpec));
        if (sp[i] == NULL) {
            return rx_exec_fail(x, 500, "out of memory");
        }
        devtools_goma__subprogram_spec__init(sp[i]);
        sp[i]->path = x->req->subprogram[i]->path;
    }
    x->result->subprogram = sp;
    x->result->n_subprogram = sp ? x->req->n_subprogram : 0;
    rx_exec_bad_request(x, "arbitrary toolchain support required; set "
                           "GOMA_ARBITRARY_TOOLCHAIN_SUPPORT=true");
    return RX_DONE;
}

static rx_int_t
rx_exec_dimensions(rx_exec_t *x, DevtoolsGoma__RequesterInfo *ri)
{
    u_char buf[512], *p = buf;
    size_t i;

    if (ri == NULL || ri->n_dimensions == 0) {
        rx_exec_bad_request(x, "No dimensions are specified");
        return RX_DONE;
    }
    x->platform = rx_exec_select_platform(x, ri->dimensions, ri->n_dimensions);
    if (x->platform == NULL) {
        for (i = 0; i < ri->n_dimensions; i++) {
            p = rx_slprintf(p, buf + sizeof(buf), "%s%s", i ? " " : "",
                            ri->dimensions[i]);
        }
        *p = '\0';
        rx_exec_bad_request(x,
                            "Could not matching runtime config with "
                            "dimensions=[%s]",
                            buf);
        return RX_DONE;
    }
    if (rx_exec_instance(x, x->platform, &x->ctx.instance) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    return RX_OK;
}

/* the platform's properties, later duplicates replacing earlier ones in
 * place, then the allowed user overrides (§6.3 steps 6-7) */
rx_int_t
rx_exec_set_prop(rx_exec_t *x, const rx_str_t *name, const rx_str_t *value)
{
    rx_conf_kv_t *kv = x->props.elts;
    rx_uint_t     i;

    for (i = 0; i < x->props.nelts; i++) {
        if (rx_str_eq(&kv[i].name, name)) {
            kv[i].value = *value;
            return RX_OK;
        }
    }
    kv = rx_array_push(&x->props);
    if (kv == NULL) {
        return RX_ERROR;
    }
    kv->name = *name;
    kv->value = *value;
    return RX_OK;
}

static rx_int_t
rx_exec_user_properties(rx_exec_t *x, DevtoolsGoma__RequesterInfo *ri)
{
    DevtoolsGoma__PlatformProperty *p;
    size_t                          i, j;
    int                             ok, bad = 0;

    for (i = 0; ri && i < ri->n_platform_properties; i++) {
        p = ri->platform_properties[i];
        ok = strcmp(p->name, "dockerRuntime") == 0
             && strcmp(p->value, "runsc") == 0;
        for (j = 0; j < rx_nelems(rx_exec_safe_props) && !ok; j++) {
            ok = strcmp(p->name, rx_exec_safe_props[j]) == 0;
        }
        if (!ok) {
            rx_exec_bad_request(x, "unsafe platform property: %s=%s", p->name,
                                p->value);
            bad = 1;
        } else if (rx_exec_set_prop(
                       x, &(rx_str_t){strlen(p->name), (u_char *) p->name},
                       &(rx_str_t){strlen(p->value), (u_char *) p->value})
                   != RX_OK) {
            return rx_exec_fail(x, 500, "out of memory");
        }
    }
    return bad ? RX_DONE : RX_OK;
}

/* RequestMetadata sent with every backend call of this request (§6.2) */
static rx_int_t
rx_exec_metadata(rx_exec_t *x, DevtoolsGoma__RequesterInfo *ri)
{
    Build__Bazel__Remote__Execution__V2__RequestMetadata m =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__REQUEST_METADATA__INIT;
    Build__Bazel__Remote__Execution__V2__ToolDetails td =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__TOOL_DETAILS__INIT;
    char *id = ri->compiler_proxy_id ? ri->compiler_proxy_id : "", *slash;

    td.tool_name = RX_PROGNAME;
    td.tool_version = RX_VERSION;
    m.tool_details = &td;
    m.action_id = id;
    m.tool_invocation_id = ri->build_id ? ri->build_id : "";
    if (m.tool_invocation_id[0] == '\0' && strncmp(id, "chrome-bot@", 11) == 0
        && (slash = strrchr(id, '/')) != NULL) {
        m.tool_invocation_id =
            rx_exec_strdup(x->pool, (u_char *) id, (size_t) (slash - id));
    }
    if (m.tool_invocation_id == NULL) {
        return RX_ERROR;
    }
    m.action_mnemonic = x->req->command_spec && x->req->command_spec->name
                            ? x->req->command_spec->name
                            : "";
    return rx_pb_pack(x->pool, &m.base, 0, &x->ctx.metadata);
}

rx_int_t
rx_exec_inventory(rx_exec_t *x)
{
    DevtoolsGoma__ExecReq       *req = x->req;
    DevtoolsGoma__RequesterInfo *ri = req->requester_info;
    rx_conf_t                   *conf = rx_cycle->conf;
    rx_conf_kv_t                *kv;
    rx_uint_t                    i;

    x->ctx.pool = x->pool;
    x->ctx.deadline = conf->exec.request_timeout
                          ? rx_current_msec + conf->exec.request_timeout
                          : 0;
    x->rr.ctx = &x->ctx;
    x->rr.data = x;
    if (!req->has_toolchain_included || !req->toolchain_included) {
        return rx_exec_not_arbitrary(x);
    }
    if (rx_exec_dimensions(x, ri) != RX_OK) {
        return RX_DONE;
    }
    if (rx_array_init(&x->props, x->pool, 8, sizeof(rx_conf_kv_t)) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    for (i = 0; i < x->platform->properties.nelts; i++) {
        kv = &((rx_conf_kv_t *) x->platform->properties.elts)[i];
        if (rx_exec_set_prop(x, &kv->name, &kv->value) != RX_OK) {
            return rx_exec_fail(x, 500, "out of memory");
        }
    }
    if (rx_exec_user_properties(x, ri) != RX_OK) {
        return RX_DONE;
    }
    if (rx_exec_metadata(x, ri) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    /* unset path_style is taken as POSIX (clients on Linux) */
    if (ri->has_path_style
        && ri->path_style
               == DEVTOOLS_GOMA__REQUESTER_INFO__PATH_STYLE__WINDOWS_STYLE) {
        rx_exec_bad_request(x, "windows clients not supported");
        return RX_DONE;
    }
    if (req->n_toolchain_specs == 0) {
        rx_exec_bad_request(x, "toolchain_included without toolchain_specs");
        return RX_DONE;
    }
    return RX_OK;
}
