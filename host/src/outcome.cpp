#include "outcome.h"

#include <array>
#include <cstring>
#include <utility>

namespace hb {

namespace {
constexpr std::array<std::pair<Outcome, std::string_view>, 11> kNames{{
    {Outcome::ok, "ok"},
    {Outcome::failed, "failed"},
    {Outcome::cancelled, "cancelled"},
    {Outcome::crashed, "crashed"},
    {Outcome::timed_out, "timed-out"},
    {Outcome::load_error, "load-error"},
    {Outcome::no_result, "no-result"},
    {Outcome::refused, "refused"},
    {Outcome::missing, "missing"},
    {Outcome::interrupted, "interrupted"},
    {Outcome::skipped, "skipped"},
}};
}  // namespace

std::string_view outcome_name(Outcome o) {
    for (const auto& [k, v] : kNames)
        if (k == o) return v;
    return "unknown";
}

std::optional<Outcome> outcome_from_name(std::string_view name) {
    for (const auto& [k, v] : kNames)
        if (v == name) return k;
    return std::nullopt;
}

std::string signal_name(int sig) {
    if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(sig);
}

}  // namespace hb
