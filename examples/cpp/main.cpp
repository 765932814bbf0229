// licet-demo-cpp (C++17): the same app as examples/c, through include/licet.hpp.
//
//   licet-demo-cpp activate KEY | trial | check | try-check | key | deactivate
//   licet-demo-cpp update CURRENT-VERSION [CHANNEL] | download-update CURRENT-VERSION PATH
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "licet.hpp"

static std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return (v && *v) ? v : fallback;
}

static std::optional<std::string> env(const char *name) {
    const char *v = std::getenv(name);
    return (v && *v) ? std::optional<std::string>(v) : std::nullopt;
}

static void print(const licet::License &license) {
    std::cout << "  license " << license.id() << " (" << license.product() << ", " << license.max_activations()
              << " seats)\n  entitlements:";
    for (const auto &e : license.entitlements()) std::cout << ' ' << e;
    std::cout << "\n  pro: " << (license.has("pro") ? "yes" : "no") << '\n';
    if (license.is_trial()) std::cout << "  trial ends at: " << *license.trial_ends_at() << '\n';
    std::cout << "  edition: " << license.metadata("edition").value_or("(none)") << '\n';
    for (const auto &[key, value] : license.metadata()) std::cout << "  metadata " << key << ": " << value << '\n';
}

static void print(const std::optional<licet::Update> &update) {
    if (!update) {
        std::cout << "  up to date\n";
    } else if (!update->is_allowed()) {
        std::cout << "  " << update->version() << " is available but your license does not cover it\n";
    } else {
        std::cout << "  Update " << update->version() << " available (" << update->channel() << " channel, "
                  << update->size() << " bytes)\n  notes: " << update->notes() << '\n';
        if (auto newer = update->newer_not_allowed_version())
            std::cout << "  " << *newer << " is available too but your license does not cover it\n";
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: licet-demo-cpp activate KEY | trial | check | try-check | key | deactivate | update VERSION "
                     "[CHANNEL] | download-update VERSION PATH\n";
        return 2;
    }
    std::ifstream jwks_file(env_or("LICET_JWKS", "jwks.json"));
    std::stringstream jwks;
    jwks << jwks_file.rdbuf();
    const std::string command = argv[1];
    try {
        licet::Options options(env_or("LICET_SERVER", "http://127.0.0.1:8787"), env_or("LICET_PRODUCT", "photo"),
                               jwks.str());
        options.storage_dir = env("LICET_STORAGE_DIR");
        options.fingerprint = env("LICET_FINGERPRINT");
        if (env("LICET_NO_KEYRING")) options.use_keyring = false;
        licet::Client client(options);
        if (command == "try-check") {
            // The launch path: no exceptions, a license or a code with its detail.
            licet::Outcome outcome = client.try_check();
            std::cout << "try-check: result=" << outcome.code;
            if (outcome) {
                std::cout << '\n';
                print(*outcome.license);
            } else {
                std::cout << " (" << (outcome.is_license_state() ? "license state" : "failure") << ": "
                          << outcome.detail << ")\n";
            }
            return outcome ? 0 : 1;
        }
        if (command == "deactivate") {
            client.deactivate();
            std::cout << "deactivate: result=0\n";
            return 0;
        }
        if (command == "update" && (argc == 3 || argc == 4)) {
            auto update = client.check_update(argv[2], argc == 4 ? std::optional<std::string>(argv[3]) : std::nullopt);
            std::cout << "update: result=0\n";
            print(update);
            return 0;
        }
        if (command == "download-update" && argc == 4) {
            auto update = client.check_update(argv[2]);
            if (update) {
                client.download(*update, argv[3], [](uint64_t done, uint64_t total) {
                    std::cerr << "\r  downloading: " << done << " of " << total << " bytes" << (done == total ? "\n" : "");
                });
            }
            std::cout << "download-update: result=0\n";
            print(update);
            return 0;
        }
        if (command == "key") {
            std::cout << "key: result=0 " << client.license_key() << '\n';
            return 0;
        }
        std::optional<licet::License> license;
        if (command == "activate" && argc == 3) {
            license.emplace(client.activate(argv[2]));
        } else if (command == "trial") {
            license.emplace(client.start_trial());
        } else if (command == "check") {
            license.emplace(client.check());
        } else {
            std::cerr << "unknown command\n";
            return 2;
        }
        std::cout << command << ": result=0\n";
        print(*license);
        return 0;
    } catch (const licet::Error &e) {
        std::cout << command << ": result=" << e.code() << " (" << e.what() << ")\n";
        return 1;
    }
}
