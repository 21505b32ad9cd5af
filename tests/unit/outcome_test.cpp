#include "outcome.h"

#include <gtest/gtest.h>

#include <csignal>

using namespace hb;

TEST(Outcome, NamesRoundTripAndAreStable) {
    for (auto o : {Outcome::ok, Outcome::failed, Outcome::cancelled, Outcome::crashed, Outcome::timed_out,
                   Outcome::load_error, Outcome::no_result, Outcome::refused, Outcome::missing, Outcome::interrupted,
                   Outcome::skipped}) {
        auto back = outcome_from_name(outcome_name(o));
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, o);
    }
    // Stored in the state database and shown to users: never rename.
    EXPECT_EQ(outcome_name(Outcome::timed_out), "timed-out");
    EXPECT_EQ(outcome_name(Outcome::load_error), "load-error");
    EXPECT_EQ(outcome_name(Outcome::no_result), "no-result");
    EXPECT_FALSE(outcome_from_name("exploded"));
}

TEST(Outcome, CrashLikeOutcomesDriveQuarantine) {
    EXPECT_TRUE(outcome_is_crash(Outcome::crashed));
    EXPECT_TRUE(outcome_is_crash(Outcome::timed_out));
    EXPECT_TRUE(outcome_is_crash(Outcome::load_error));
    EXPECT_FALSE(outcome_is_crash(Outcome::failed));
    EXPECT_FALSE(outcome_is_crash(Outcome::interrupted));
    EXPECT_TRUE(outcome_ok(Outcome::ok));
    EXPECT_FALSE(outcome_ok(Outcome::cancelled));
}

TEST(Outcome, SignalNames) {
    EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
    EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");
    EXPECT_EQ(signal_name(SIGBUS), "SIGBUS");
    EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
    EXPECT_EQ(signal_name(1000), "signal 1000");
}
