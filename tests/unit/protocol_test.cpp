#include "protocol.h"

#include <gtest/gtest.h>

#include <cstring>


using namespace hb::protocol;
using Result = hb::protocol::Result;

TEST(Protocol, RoundTripOfEveryMessageFedByteByByte) {
    std::string stream;
    stream += encode(Descriptor{0x10000, 7, "name", "1.2", "desc", "hourly"});
    stream += encode(Log{2, "line\nnext"});
    stream += encode(LoadFailure{3, "abi"});
    stream += encode(Result{1, "boom"});
    Decoder d;
    std::vector<Message> got;
    for (char c : stream) {
        d.feed(std::string_view(&c, 1));
        while (auto m = d.next()) {
            ASSERT_TRUE(*m) << m->error().message;
            got.push_back(**m);
        }
    }
    ASSERT_EQ(got.size(), 4u);
    const auto& desc = std::get<Descriptor>(got[0]);
    EXPECT_EQ(desc.name, "name");
    EXPECT_EQ(desc.default_timeout_sec, 7u);
    EXPECT_EQ(desc.default_schedule, "hourly");
    EXPECT_EQ(std::get<Log>(got[1]).message, "line\nnext");
    EXPECT_EQ(std::get<LoadFailure>(got[2]).kind, 3);
    EXPECT_EQ(std::get<Result>(got[3]).status, 1);
    EXPECT_EQ(d.buffered(), 0u);
}

TEST(Protocol, OversizedPayloadIsCutToTheCap) {
    const std::string big(kMaxPayload * 2, 'x');
    const std::string frame = encode(Log{1, big});
    EXPECT_LE(frame.size(), kHeaderSize + kMaxPayload);
    Decoder d;
    d.feed(frame);
    auto m = d.next();
    ASSERT_TRUE(m && *m);
    EXPECT_LT(std::get<Log>(**m).message.size(), big.size());
}

TEST(Protocol, GarbageBadVersionAndOversizeLengthFailTheChannel) {
    {
        Decoder d;
        d.feed("this is not a frame at all");
        auto m = d.next();
        ASSERT_TRUE(m);
        ASSERT_FALSE(*m);
        EXPECT_NE(m->error().message.find("bad frame magic"), std::string::npos);
        EXPECT_TRUE(d.failed());
        EXPECT_FALSE(d.next());  // stays failed
    }
    {
        std::string f = encode(Result{0, ""});
        f[4] = 9;
        Decoder d;
        d.feed(f);
        EXPECT_NE(d.next()->error().message.find("unsupported protocol version 9"), std::string::npos);
    }
    {
        std::string f = encode(Result{0, ""});
        const uint32_t huge = kMaxPayload + 1;
        std::memcpy(f.data() + 8, &huge, 4);
        Decoder d;
        d.feed(f);
        EXPECT_NE(d.next()->error().message.find("exceeds the cap"), std::string::npos);
    }
    {
        std::string f = encode(Result{0, "abc"});
        f[5] = 42;  // unknown type
        Decoder d;
        d.feed(f);
        EXPECT_NE(d.next()->error().message.find("unknown frame type 42"), std::string::npos);
    }
    {
        std::string f = encode(Result{0, "abc"});
        const uint32_t len = 6;  // payload says 6 bytes but holds a string claiming 3 after the status
        std::memcpy(f.data() + 8, &len, 4);
        f.resize(kHeaderSize + 6);
        Decoder d;
        d.feed(f);
        EXPECT_NE(d.next()->error().message.find("malformed frame payload"), std::string::npos);
    }
}

TEST(Protocol, PartialFrameWaitsForMoreBytes) {
    const std::string f = encode(Log{0, "hello"});
    Decoder d;
    d.feed(std::string_view(f).substr(0, f.size() - 1));
    EXPECT_FALSE(d.next());
    d.feed(std::string_view(f).substr(f.size() - 1));
    auto m = d.next();
    ASSERT_TRUE(m && *m);
    EXPECT_EQ(std::get<Log>(**m).message, "hello");
}
