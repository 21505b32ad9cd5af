// The unit parsers the shipped plugins share (plugins/common/include/hbplugins/units.hpp).
#include <hbplugins/units.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using hbplugins::format_bytes;
using hbplugins::parse_percent;
using hbplugins::parse_size;
using hbplugins::parse_timespan;

TEST(Units, TimeSpans) {
    EXPECT_EQ(parse_timespan("90").value(), 90);
    EXPECT_EQ(parse_timespan("30d").value(), 30 * 86400);
    EXPECT_EQ(parse_timespan("1h 30min").value(), 5400);
    EXPECT_EQ(parse_timespan("1h30m").value(), 5400);
    EXPECT_EQ(parse_timespan(" 2 weeks ").value(), 14 * 86400);
    EXPECT_EQ(parse_timespan("1.5h").value(), 5400);
    EXPECT_EQ(parse_timespan("1y").value(), 31557600);
    EXPECT_EQ(parse_timespan("1M").value(), 2629800);  // month, as in systemd
    EXPECT_EQ(parse_timespan("1m").value(), 60);       // minute
    EXPECT_EQ(parse_timespan("5s").value(), 5);
    EXPECT_EQ(parse_timespan("1h 2").value(), 3602);  // a trailing bare number is seconds
}

// systemd-analyze is the oracle for what a time span means: every span accepted here must mean
// the same number of seconds there, and every span refused there must be refused here.
TEST(Units, TimeSpansAgreeWithSystemdAnalyze) {
    if (std::system("systemd-analyze --version >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "systemd-analyze is not installed";
    for (const char* span : {"90", "30d", "1h 30min", "1h30m", "2 weeks", "1.5h", "1y", "1M", "1m", "5s", "1h 2",
                             "3 days 4 hours", "1w2d", ".5min", "7 seconds", "2hr", "1.2.3s", "5.", "3x", "d", "1e3s",
                             "5 sec s", "10months", "1year 1second"}) {
        const std::string cmd = std::string("systemd-analyze timespan '") + span + "' 2>/dev/null";
        FILE* p = ::popen(cmd.c_str(), "r");
        ASSERT_NE(p, nullptr);
        std::string out;
        char buf[256];
        while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
        const int rc = ::pclose(p);
        const auto ours = parse_timespan(span);
        if (rc != 0) {
            EXPECT_FALSE(ours.has_value()) << "systemd refuses '" << span << "', we read " << ours.value_or(-1);
            continue;
        }
        const auto pos = out.find("s: ");  // "      μs: 3602000000"
        ASSERT_NE(pos, std::string::npos) << out;
        const long long usec = std::stoll(out.substr(pos + 3));
        ASSERT_TRUE(ours.has_value()) << "systemd accepts '" << span << "', we say: " << ours.error();
        EXPECT_EQ(*ours, usec / 1000000) << span;
    }
}

TEST(Units, BadTimeSpans) {
    for (const char* bad : {"", "d", "3x", "-5s", "1.2.3s", "5.", "5%", "5 sec s", "1e3s"}) {
        auto r = parse_timespan(bad);
        EXPECT_FALSE(r.has_value()) << "'" << bad << "' parsed as " << r.value_or(-1);
    }
    EXPECT_NE(parse_timespan("3 fortnights").error().find("unknown unit 'fortnights'"), std::string::npos);
    EXPECT_FALSE(parse_timespan("999999999999999y").has_value());
}

TEST(Units, Sizes) {
    EXPECT_EQ(parse_size("0").value(), 0u);
    EXPECT_EQ(parse_size("4096").value(), 4096u);
    EXPECT_EQ(parse_size("12B").value(), 12u);
    EXPECT_EQ(parse_size("1K").value(), 1024u);
    EXPECT_EQ(parse_size("1k").value(), 1024u);
    EXPECT_EQ(parse_size("500M").value(), 500ull << 20);
    EXPECT_EQ(parse_size("2G").value(), 2ull << 30);
    EXPECT_EQ(parse_size("2 GiB").value(), 2ull << 30);
    EXPECT_EQ(parse_size("1.5G").value(), 3ull << 29);
    EXPECT_EQ(parse_size("3T").value(), 3ull << 40);
}

TEST(Units, BadSizes) {
    for (const char* bad : {"", "G", "1X", "-1G", "1GB", "1 MB", "1Gi", "10%", "1e9"}) {
        auto r = parse_size(bad);
        EXPECT_FALSE(r.has_value()) << "'" << bad << "' parsed as " << r.value_or(0);
    }
    EXPECT_NE(parse_size("5MB").error().find("write M or MiB"), std::string::npos);
    EXPECT_FALSE(parse_size("100000P").has_value());
}

TEST(Units, Percentages) {
    EXPECT_DOUBLE_EQ(parse_percent("10%").value(), 10.0);
    EXPECT_DOUBLE_EQ(parse_percent("2.5 %").value(), 2.5);
    EXPECT_DOUBLE_EQ(parse_percent("0%").value(), 0.0);
    for (const char* bad : {"10", "%", "101%", "-1%", "ten%", "5%%"}) EXPECT_FALSE(parse_percent(bad).has_value()) << bad;
}

TEST(Units, FormatBytes) {
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1024), "1.0 KiB");
    EXPECT_EQ(format_bytes(3565158), "3.4 MiB");
    EXPECT_EQ(format_bytes(5ull << 30), "5.0 GiB");
}
