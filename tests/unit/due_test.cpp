#include "due.h"

#include <gtest/gtest.h>

using namespace hb;

namespace {
TimePoint at(const char* text) { return *parse_timestamp(text); }
int64_t us(const char* text) { return at(text).time_since_epoch().count(); }
TaskSpec spec_with(std::optional<std::string> schedule, std::optional<Duration> every = std::nullopt) {
    TaskSpec s;
    s.name = "t";
    s.schedule = std::move(schedule);
    s.every = every;
    return s;
}
}  // namespace

TEST(Due, NeverRanIsDueAndDisabledIsNot) {
    TaskSpec s = spec_with("daily");
    EXPECT_TRUE(decide_due({&s, nullptr, "", "", at("2026-01-01 00:00:00 UTC")}).due);
    s.enabled = false;
    auto d = decide_due({&s, nullptr, "", "", at("2026-01-01 00:00:00 UTC")});
    EXPECT_FALSE(d.due);
    EXPECT_EQ(d.reason, "disabled in the manifest");
}

TEST(Due, CalendarElapseAfterLastStartAndAtOrBeforeNow) {
    TaskSpec s = spec_with("*-*-* 03:00:00 UTC");
    TaskState st;
    st.last_start_us = us("2026-01-01 03:00:00 UTC");
    st.last_outcome = "ok";
    EXPECT_FALSE(decide_due({&s, &st, "", "", at("2026-01-02 02:59:59 UTC")}).due);
    auto d = decide_due({&s, &st, "", "", at("2026-01-02 03:00:00 UTC")});
    EXPECT_TRUE(d.due);
    EXPECT_NE(d.reason.find("due since"), std::string::npos);
    EXPECT_TRUE(decide_due({&s, &st, "", "", at("2026-03-01 00:00:00 UTC")}).due);  // downtime: once
    auto back = decide_due({&s, &st, "", "", at("2025-12-31 23:00:00 UTC")});         // clock went back
    EXPECT_FALSE(back.due);
    EXPECT_NE(back.reason.find("clock went back"), std::string::npos);
}

TEST(Due, IntervalFromLastStart) {
    TaskSpec s = spec_with(std::nullopt, std::chrono::minutes(15));
    TaskState st;
    st.last_start_us = us("2026-01-01 10:00:00 UTC");
    st.last_outcome = "ok";
    EXPECT_FALSE(decide_due({&s, &st, "", "", at("2026-01-01 10:14:59 UTC")}).due);
    EXPECT_TRUE(decide_due({&s, &st, "", "", at("2026-01-01 10:15:00 UTC")}).due);
}

TEST(Due, PluginDefaultScheduleAppliesWithoutAManifestOne) {
    TaskSpec s = spec_with(std::nullopt);
    TaskState st;
    st.last_start_us = us("2026-01-01 10:00:30 UTC");
    st.last_outcome = "ok";
    EXPECT_TRUE(decide_due({&s, &st, "", "", at("2026-01-01 10:01:00 UTC")}).due);  // every tick
    EXPECT_FALSE(decide_due({&s, &st, "hourly", "", at("2026-01-01 10:59:00 UTC")}).due);
    EXPECT_TRUE(decide_due({&s, &st, "hourly", "", at("2026-01-01 11:00:00 UTC")}).due);
}

TEST(Due, QuarantineBackoffIsCappedAndLiftsWhenThePluginChanges) {
    TaskState st;
    st.task = "t";
    QuarantinePolicy p{2, std::chrono::minutes(5), std::chrono::minutes(30)};
    TimePoint t = at("2026-01-01 10:00:00 UTC");
    std::vector<int64_t> backoffs;
    for (int i = 0; i < 6; ++i) {
        apply_result(st, "crashed", "killed by SIGSEGV", t, t, 1, false, "id-1", p);
        if (st.quarantined_until_us) backoffs.push_back((*st.quarantined_until_us - t.time_since_epoch().count()) / 60000000);
        t += std::chrono::hours(1);
    }
    EXPECT_EQ(backoffs, (std::vector<int64_t>{5, 10, 20, 30, 30}));  // from the 2nd crash, capped at 30
    TaskSpec s = spec_with(std::nullopt);
    auto q = decide_due({&s, &st, "", "id-1", t - std::chrono::hours(1) + std::chrono::minutes(1)});
    EXPECT_TRUE(q.quarantined);
    EXPECT_FALSE(q.due);
    auto released = decide_due({&s, &st, "", "id-2", t - std::chrono::hours(1) + std::chrono::minutes(1)});
    EXPECT_TRUE(released.release_quarantine);
    EXPECT_TRUE(released.due);
    apply_result(st, "ok", "", t, t, 1, false, "id-2", p);
    EXPECT_FALSE(st.quarantined_until_us);
    EXPECT_EQ(st.crash_streak, 0);
    EXPECT_EQ(st.consecutive_failures, 0);
}

TEST(Due, InterruptedRunDoesNotCountAsDone) {
    TaskState st;
    const TimePoint t = at("2026-01-01 10:00:00 UTC");
    apply_result(st, "interrupted", "stopped", t, t, 5, false, "", {});
    EXPECT_FALSE(st.last_start_us);
    EXPECT_EQ(st.last_outcome, "interrupted");
}
