/*
 * licet-demo (C11): a command-line app licensed through liblicet.
 *
 *   licet-demo activate KEY | trial | check | validate | deactivate | entitled NAME | meta KEY | fingerprint
 *   licet-demo update CURRENT-VERSION [CHANNEL] | download-update CURRENT-VERSION PATH
 *   licet-demo offline-request KEY FILE | offline-import FILE | offline-deactivate FILE
 *   licet-demo floating [KEY|-] [BORROW-SECONDS]   (holds a floating seat until Enter)
 *   licet-demo version | selftest
 *
 * Environment: LICET_SERVER (default http://127.0.0.1:8787), LICET_PRODUCT (default photo),
 * LICET_JWKS (file with the pinned public keys, default jwks.json), optional
 * LICET_STORAGE_DIR, LICET_FINGERPRINT, LICET_PROXY, LICET_MACHINE_NAME and LICET_ROOT_CA (a PEM
 * file). Prints "result=<code> (<message>)".
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licet.h"

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : fallback;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            text = malloc((size_t)size + 1);
            if (text != NULL) {
                size_t n = fread(text, 1, (size_t)size, f);
                text[n] = '\0';
            }
        }
    }
    fclose(f);
    return text;
}

static int report(const char *what, licet_result r) {
    printf("%s: result=%u (%s)\n", what, (unsigned)r, licet_result_message(r));
    if (r != LICET_OK) {
        char detail[512];
        size_t n = 0;
        if (licet_last_error_message(detail, sizeof detail, &n) == LICET_OK && n > 0) {
            printf("  detail: %s\n", detail);
        }
    }
    return r == LICET_OK ? 0 : 1;
}

static void print_license(const licet_license *license) {
    char buf[256];
    size_t n = 0;
    if (licet_license_id(license, buf, sizeof buf, &n) == LICET_OK) {
        printf("  license: %s\n", buf);
    }
    if (licet_license_email(license, buf, sizeof buf, &n) == LICET_OK && n > 0) {
        printf("  licensed to: %s\n", buf);
    }
    int64_t expires = licet_license_expires_at(license);
    if (expires == 0) {
        printf("  expires: never\n");
    } else {
        printf("  expires at: %lld\n", (long long)expires);
    }
    if (licet_license_product(license, buf, sizeof buf, &n) == LICET_OK) {
        printf("  product: %s\n", buf);
    }
    printf("  seats: %u\n", (unsigned)licet_license_max_activations(license));
    printf("  seats in use: %lld\n", (long long)licet_license_activations_in_use(license));
    printf("  lease signed at: %lld\n", (long long)licet_license_issued_at(license));
    if (licet_license_is_trial(license)) {
        printf("  trial ends at: %lld\n", (long long)licet_license_trial_ends_at(license));
    }
    printf("  offline until: %lld\n", (long long)licet_license_offline_valid_until(license));
    size_t count = licet_license_entitlement_count(license);
    printf("  entitlements:");
    for (size_t i = 0; i < count; i++) {
        if (licet_license_entitlement(license, i, buf, sizeof buf, &n) == LICET_OK) {
            printf(" %s", buf);
        }
    }
    printf("\n");
    /* The vendor's metadata on the license, signed into the lease. */
    for (size_t i = 0; i < licet_license_metadata_count(license); i++) {
        char key[80];
        if (licet_license_metadata_key(license, i, key, sizeof key, &n) == LICET_OK &&
            licet_license_metadata(license, key, buf, sizeof buf, &n) == LICET_OK) {
            printf("  metadata %s: %s\n", key, buf);
        }
    }
}

static const char *not_allowed_text(licet_not_allowed_reason reason) {
    switch (reason) {
        case LICET_NOT_ALLOWED_UPDATES_ENDED:
            return "your updates ended before it was published; renew to get it";
        case LICET_NOT_ALLOWED_ENTITLEMENT_REQUIRED:
            return "it needs another edition";
        case LICET_NOT_ALLOWED_TRIAL_EXCLUDED:
            return "trials do not get updates";
        default:
            return "not covered";
    }
}

/* What an update check found, in words. */
static void print_update(const licet_update *update) {
    if (update == NULL) {
        printf("  up to date\n");
        return;
    }
    if (!licet_update_is_allowed(update)) {
        printf("  %s is available but your license does not cover it (%s)\n", licet_update_version(update),
               not_allowed_text(licet_update_not_allowed_reason(update)));
        return;
    }
    printf("  Update %s available (%s channel, %llu bytes, published at %lld)\n", licet_update_version(update),
           licet_update_channel(update), (unsigned long long)licet_update_size(update),
           (long long)licet_update_published_at(update));
    printf("  sha256: %s\n", licet_update_sha256(update));
    printf("  notes: %s\n", licet_update_notes(update));
    const char *newer = licet_update_newer_not_allowed_version(update);
    if (newer != NULL) {
        printf("  %s is available too but your license does not cover it (%s)\n", newer,
               not_allowed_text(licet_update_not_allowed_reason(update)));
    }
}

/* Download progress, on one line of stderr. */
static void show_progress(uint64_t downloaded, uint64_t total, void *user_data) {
    unsigned *calls = user_data;
    (*calls)++;
    fprintf(stderr, "\r  downloading: %llu of %llu bytes", (unsigned long long)downloaded,
            (unsigned long long)total);
    if (downloaded == total) {
        fprintf(stderr, "\n");
    }
}

/* Air-gapped activation: a document's text block, from a call that reports the size it
 * needs. The first try uses a small buffer on purpose, to show the retry. */
typedef licet_result (*text_call)(const licet_client *, const char *, char *, size_t, size_t *);

static licet_result request_text(const licet_client *client, const char *key, char *buf, size_t len, size_t *out_len) {
    return licet_offline_request(client, key, buf, len, out_len);
}

static licet_result proof_text(const licet_client *client, const char *unused, char *buf, size_t len, size_t *out_len) {
    (void)unused;
    return licet_offline_deactivate(client, buf, len, out_len);
}

/* Calls `call` (with `key` the first time, NULL after: the request is made once), growing
 * the buffer to the size reported, and writes the text to `path`. */
static licet_result offline_document(const licet_client *client, text_call call, const char *key, const char *path) {
    char small[16];
    size_t needed = 0;
    licet_result r = call(client, key, small, sizeof small, &needed);
    if (r != LICET_BUFFER_TOO_SMALL) {
        return r;
    }
    char *text = malloc(needed + 1);
    if (text == NULL) {
        return LICET_STORAGE;
    }
    size_t written = 0;
    r = call(client, NULL, text, needed + 1, &written);
    if (r == LICET_OK) {
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(text, 1, written, f) != written) {
            r = LICET_STORAGE;
        }
        if (f != NULL) {
            fclose(f);
        }
        printf("%s", text);
        printf("  (%zu bytes written to %s)\n", written, path);
    }
    free(text);
    return r;
}

/* What the floating demo's lost callback is given as user_data. */
struct seat_watch {
    atomic_bool lost;
    atomic_uint reason;
};

/* Called once, on the seat's renewal thread, if the seat is lost: the app would stop its
 * licensed features here (or tell its main thread to). */
static void on_seat_lost(licet_result reason, void *user_data) {
    struct seat_watch *watch = user_data;
    atomic_store(&watch->reason, (unsigned)reason);
    atomic_store(&watch->lost, true);
    fprintf(stderr, "  seat lost: %s\n", licet_result_message(reason));
}

/* Floating license: take a seat (with KEY, or the stored key when NULL), hold it while the
 * app "runs" (until a line or the end of input), optionally borrowed, then give it back. */
static int floating(licet_client *client, const char *key, const char *borrow_secs) {
    licet_seat *seat = NULL;
    licet_result r = licet_seat_checkout(client, key, &seat);
    int status = report("checkout", r);
    if (r == LICET_NO_FREE_SEAT) {
        printf("  every seat is taken; one frees up within %llu s\n",
               (unsigned long long)licet_last_error_retry_after());
    }
    if (r != LICET_OK) {
        return status;
    }
    char id[128];
    size_t n = 0;
    if (licet_seat_id(seat, id, sizeof id, &n) == LICET_OK) {
        printf("  seat: %s\n", id);
    }
    printf("  lease ends at: %lld\n", (long long)licet_seat_lease_ends_at(seat));
    /* The watch outlives the seat: the seat is freed below, before this function returns. */
    struct seat_watch watch;
    atomic_init(&watch.lost, false);
    atomic_init(&watch.reason, (unsigned)LICET_OK);
    status |= report("on-lost", licet_seat_on_lost(seat, on_seat_lost, &watch));
    if (borrow_secs != NULL) {
        r = licet_seat_borrow(seat, strtoull(borrow_secs, NULL, 10));
        status |= report("borrow", r);
        if (r == LICET_OK) {
            printf("  borrowed: %s, until %lld\n", licet_seat_is_borrowed(seat) ? "yes" : "no",
                   (long long)licet_seat_lease_ends_at(seat));
        }
    }
    printf("  holding the seat; press Enter to release it\n");
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) {
        /* End of input: release at once. */
    }
    r = licet_seat_status(seat);
    printf("  status: %s\n", r == LICET_OK ? "held" : licet_result_message(r));
    if (atomic_load(&watch.lost)) {
        printf("  lost: %s\n", licet_result_message((licet_result)atomic_load(&watch.reason)));
    }
    status |= report("release", licet_seat_release(seat));
    printf("  status after release: %s\n",
           licet_seat_status(seat) == LICET_SEAT_RELEASED ? "released" : "lost");
    /* The seat's lease is forgotten: the app is no longer licensed from it. */
    report("check after release", licet_client_check(client, NULL));
    licet_seat_free(seat);
    return status;
}

static licet_client *make_client(licet_result *result) {
    licet_config *config = NULL;
    *result = licet_config_new(env_or("LICET_SERVER", "http://127.0.0.1:8787"),
                               env_or("LICET_PRODUCT", "photo"), &config);
    if (*result != LICET_OK) {
        return NULL;
    }
    char *keys = read_file(env_or("LICET_JWKS", "jwks.json"));
    if (keys != NULL) {
        *result = licet_config_set_pinned_keys(config, keys);
        free(keys);
    }
    if (*result == LICET_OK && getenv("LICET_STORAGE_DIR") != NULL) {
        *result = licet_config_set_storage_dir(config, getenv("LICET_STORAGE_DIR"));
    }
    if (*result == LICET_OK && getenv("LICET_FINGERPRINT") != NULL) {
        *result = licet_config_set_fingerprint(config, getenv("LICET_FINGERPRINT"));
    }
    if (*result == LICET_OK && getenv("LICET_PROXY") != NULL) {
        *result = licet_config_set_proxy(config, getenv("LICET_PROXY"));
    }
    if (*result == LICET_OK && getenv("LICET_MACHINE_NAME") != NULL) {
        *result = licet_config_set_machine_name(config, getenv("LICET_MACHINE_NAME"));
    }
    if (*result == LICET_OK && getenv("LICET_ROOT_CA") != NULL) {
        char *pem = read_file(getenv("LICET_ROOT_CA"));
        *result = pem == NULL ? LICET_INVALID_ARGUMENT : licet_config_set_root_ca_pem(config, pem);
        free(pem);
    }
    if (*result == LICET_OK && getenv("LICET_NO_KEYRING") != NULL) {
        *result = licet_config_set_use_keyring(config, false);
    }
    if (*result == LICET_OK) {
        *result = licet_config_set_timeout_ms(config, 5000);
    }
    licet_client *client = NULL;
    if (*result == LICET_OK) {
        *result = licet_client_new(config, &client);
    }
    licet_config_free(config);
    return client;
}

/* Exercises the argument and buffer rules; prints each failed expectation. */
static int selftest(void) {
    int failures = 0;
#define EXPECT(cond)                                              \
    do {                                                          \
        if (!(cond)) {                                            \
            printf("selftest: FAILED %s (line %d)\n", #cond, __LINE__); \
            failures++;                                           \
        }                                                         \
    } while (0)

    licet_config *config = NULL;
    EXPECT(licet_config_new(NULL, "photo", &config) == LICET_INVALID_ARGUMENT);
    EXPECT(config == NULL);
    EXPECT(licet_config_new("http://127.0.0.1:1", "photo", NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_config_new("http://127.0.0.1:1", "\xff\xfe", &config) == LICET_INVALID_ARGUMENT);
    EXPECT(config == NULL);
    EXPECT(licet_config_new("http://127.0.0.1:1", "photo", &config) == LICET_OK);
    EXPECT(config != NULL);
    EXPECT(licet_config_set_timeout_ms(config, 0) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_config_set_pinned_keys(config, NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_config_set_fingerprint(config, "v1:selftest") == LICET_OK);

    licet_client *client = NULL;
    EXPECT(licet_client_new(config, &client) == LICET_CONFIG); /* no pinned keys */
    EXPECT(client == NULL);
    EXPECT(licet_config_set_pinned_keys(config, "not-a-key!") == LICET_OK);
    EXPECT(licet_client_new(config, &client) == LICET_CONFIG);
    EXPECT(licet_config_set_pinned_keys(config, "lyWW5bJpZnbWVcFl_8pgAoRjjo9J47OKS6uCQrctCIA") == LICET_OK);
    EXPECT(licet_client_new(config, &client) == LICET_OK);
    licet_config_free(config);

    char small[4];
    char big[128];
    size_t needed = 0;
    size_t written = 0;
    EXPECT(licet_client_fingerprint(client, small, sizeof small, &needed) == LICET_BUFFER_TOO_SMALL);
    EXPECT(needed == strlen("v1:selftest"));
    EXPECT(licet_client_fingerprint(client, big, needed + 1, &written) == LICET_OK);
    EXPECT(written == needed && strcmp(big, "v1:selftest") == 0);
    EXPECT(licet_client_fingerprint(client, NULL, 0, &written) == LICET_BUFFER_TOO_SMALL);
    EXPECT(licet_client_fingerprint(client, big, sizeof big, NULL) == LICET_INVALID_ARGUMENT);

    licet_license *license = NULL;
    EXPECT(licet_client_check(NULL, &license) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_client_activate(client, NULL, &license) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_client_has_entitlement(client, "pro", NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(license == NULL);

    char message[256];
    size_t message_len = 0;
    EXPECT(licet_last_error_message(message, 2, &message_len) == LICET_BUFFER_TOO_SMALL);
    EXPECT(licet_last_error_message(message, sizeof message, &message_len) == LICET_OK);
    EXPECT(message_len > 0 && strstr(message, "NULL") != NULL);

    EXPECT(strcmp(licet_result_message(12345), "unknown licet_result code") == 0);
    EXPECT(licet_result_is_license_state(LICET_REVOKED));
    EXPECT(!licet_result_is_license_state(LICET_NETWORK));
    EXPECT(!licet_license_has_entitlement(NULL, "pro"));
    EXPECT(licet_license_expires_at(NULL) == 0);
    EXPECT(licet_license_renews_at(NULL) == 0);
    EXPECT(licet_license_subscription_ends_at(NULL) == 0);
    EXPECT(!licet_license_cancels_at_period_end(NULL));
    EXPECT(!licet_license_payment_past_due(NULL));

    licet_update *update = NULL;
    EXPECT(licet_client_check_update(NULL, "1.0.0", NULL, &update) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_client_check_update(client, NULL, NULL, &update) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_client_check_update(client, "1.0.0", NULL, NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_client_check_update(client, "1.0", NULL, &update) == LICET_CONFIG);
    EXPECT(update == NULL);
    EXPECT(licet_update_download(client, NULL, "x", NULL, NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(strcmp(licet_update_version(NULL), "") == 0);
    EXPECT(licet_update_newer_not_allowed_version(NULL) == NULL);
    EXPECT(licet_update_size(NULL) == 0 && !licet_update_is_allowed(NULL));
    EXPECT(licet_update_not_allowed_reason(NULL) == LICET_NOT_ALLOWED_NONE);
    EXPECT(strcmp(licet_result_message(LICET_UPDATE_VERIFICATION), "unknown licet_result code") != 0);
    EXPECT(!licet_result_is_license_state(LICET_UPDATE_NOT_ALLOWED));
    licet_update_free(NULL);

    licet_seat *seat = NULL;
    EXPECT(licet_seat_checkout(NULL, NULL, &seat) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_checkout(client, "PHOTO", NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_checkout(client, "\xff", &seat) == LICET_INVALID_ARGUMENT);
    EXPECT(seat == NULL);
    EXPECT(licet_seat_status(NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_release(NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_borrow(NULL, 60) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_on_lost(NULL, on_seat_lost, NULL) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_id(NULL, big, sizeof big, &written) == LICET_INVALID_ARGUMENT);
    EXPECT(licet_seat_lease_ends_at(NULL) == 0 && !licet_seat_is_borrowed(NULL));
    EXPECT(licet_result_is_license_state(LICET_NO_FREE_SEAT));
    licet_seat_free(NULL);

    licet_license_free(NULL);
    licet_client_free(NULL);
    licet_config_free(NULL);
    licet_client_free(client);
#undef EXPECT
    printf("selftest: %s (result=%u)\n", failures == 0 ? "ok" : "failed", failures == 0 ? 0u : (unsigned)LICET_PANIC);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
        printf("liblicet %s\n", licet_version());
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "selftest") == 0) {
        return selftest();
    }
    if (argc < 2) {
        fprintf(stderr, "usage: licet-demo activate KEY | check | validate | deactivate | forget | key | last | whoami | trial | entitled NAME | meta KEY | fingerprint | update VERSION [CHANNEL] | download-update VERSION PATH | offline-request KEY FILE | offline-import FILE | offline-deactivate FILE | floating [KEY|-] [BORROW-SECONDS] | version | selftest\n");
        return 2;
    }
    licet_result r = LICET_OK;
    licet_client *client = make_client(&r);
    if (client == NULL) {
        return report("configure", r);
    }
    int status = 2;
    licet_license *license = NULL;
    const char *command = argv[1];
    if (strcmp(command, "activate") == 0 && argc == 3) {
        r = licet_client_activate(client, argv[2], &license);
        status = report("activate", r);
    } else if (strcmp(command, "check") == 0) {
        r = licet_client_check(client, &license);
        status = report("check", r);
        if (r == LICET_NOT_ACTIVATED) {
            /* First run: offer the two ways in. */
            printf("  not licensed yet: Start trial (licet-demo trial) or Enter key (licet-demo activate KEY)\n");
        } else if (r == LICET_TRIAL_EXPIRED) {
            printf("  the trial has ended: Enter key (licet-demo activate KEY)\n");
        }
    } else if (strcmp(command, "trial") == 0) {
        r = licet_client_start_trial(client, &license);
        status = report("trial", r);
    } else if (strcmp(command, "validate") == 0) {
        r = licet_client_validate(client, &license);
        status = report("validate", r);
    } else if (strcmp(command, "deactivate") == 0) {
        status = report("deactivate", licet_client_deactivate(client));
    } else if (strcmp(command, "entitled") == 0 && argc == 3) {
        bool has = false;
        r = licet_client_has_entitlement(client, argv[2], &has);
        status = report("entitled", r);
        if (r == LICET_OK) {
            printf("  %s: %s\n", argv[2], has ? "yes" : "no");
        }
    } else if (strcmp(command, "meta") == 0 && argc == 3) {
        r = licet_client_check(client, &license);
        if (r == LICET_OK) {
            char buf[256];
            size_t n = 0;
            r = licet_license_metadata(license, argv[2], buf, sizeof buf, &n);
            if (r == LICET_OK) {
                printf("  %s = %s\n", argv[2], buf);
            }
        }
        status = report("meta", r);
    } else if (strcmp(command, "key") == 0) {
        char buf[100];
        size_t n = 0;
        r = licet_client_license_key(client, true, buf, sizeof buf, &n);
        status = report("key", r);
        if (r == LICET_OK) {
            printf("  masked: %s\n", buf);
        }
        if (r == LICET_OK && licet_client_license_key(client, false, buf, sizeof buf, &n) == LICET_OK) {
            printf("  full: %s\n", buf);
        }
    } else if (strcmp(command, "last") == 0) {
        /* What the stored lease last said, valid or not (after a refused check). */
        r = licet_client_last_license(client, &license);
        status = report("last", r);
        if (r == LICET_OK && license == NULL) {
            printf("  no stored lease\n");
        }
    } else if (strcmp(command, "whoami") == 0) {
        char buf[300];
        size_t n = 0;
        r = licet_client_machine_name(client, buf, sizeof buf, &n);
        status = report("whoami", r);
        if (r == LICET_OK) {
            printf("  machine: %s\n", buf);
        }
        if (r == LICET_OK && licet_client_platform(client, buf, sizeof buf, &n) == LICET_OK) {
            printf("  platform: %s\n", buf);
        }
    } else if (strcmp(command, "update") == 0 && (argc == 3 || argc == 4)) {
        licet_update *update = NULL;
        r = licet_client_check_update(client, argv[2], argc == 4 ? argv[3] : NULL, &update);
        status = report("update", r);
        if (r == LICET_OK) {
            print_update(update);
        }
        licet_update_free(update);
    } else if (strcmp(command, "download-update") == 0 && argc == 4) {
        licet_update *update = NULL;
        unsigned calls = 0;
        r = licet_client_check_update(client, argv[2], NULL, &update);
        if (r == LICET_OK && update != NULL) {
            r = licet_update_download(client, update, argv[3], show_progress, &calls);
        }
        status = report("download-update", r);
        if (r == LICET_OK || r == LICET_UPDATE_NOT_ALLOWED) {
            print_update(update);
        }
        if (r == LICET_OK && update != NULL) {
            printf("  downloaded to %s (%u progress reports)\n", argv[3], calls);
        }
        licet_update_free(update);
    } else if (strcmp(command, "offline-request") == 0 && argc == 4) {
        /* A machine that never goes online: its activation request, as text and a file. */
        status = report("offline-request", offline_document(client, request_text, argv[2], argv[3]));
    } else if (strcmp(command, "offline-import") == 0 && argc == 3) {
        char *response = read_file(argv[2]);
        r = response == NULL ? LICET_INVALID_ARGUMENT : licet_offline_import(client, response, &license);
        free(response);
        status = report("offline-import", r);
    } else if (strcmp(command, "offline-deactivate") == 0 && argc == 3) {
        status = report("offline-deactivate", offline_document(client, proof_text, NULL, argv[2]));
    } else if (strcmp(command, "floating") == 0 && argc <= 4) {
        const char *key = (argc >= 3 && strcmp(argv[2], "-") != 0) ? argv[2] : NULL;
        status = floating(client, key, argc == 4 ? argv[3] : NULL);
    } else if (strcmp(command, "forget") == 0) {
        status = report("forget", licet_client_forget(client));
    } else if (strcmp(command, "fingerprint") == 0) {
        char buf[300];
        size_t n = 0;
        r = licet_client_fingerprint(client, buf, sizeof buf, &n);
        status = report("fingerprint", r);
        if (r == LICET_OK) {
            printf("  %s\n", buf);
        }
    } else {
        fprintf(stderr, "unknown command\n");
    }
    if (license != NULL) {
        print_license(license);
        licet_license_free(license);
    }
    licet_client_free(client);
    return status;
}
