// Issue 5 (metrics): the textfile-collector file is scraped by Debian's real node_exporter on
// 127.0.0.1; no scrape error, and the values match what the run did.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

using namespace hbtest;

namespace {

const char* kExporter = "/usr/bin/prometheus-node-exporter";

int free_port() {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    close(s);
    return ntohs(a.sin_port);
}

// A plain HTTP/1.0 GET of /metrics on 127.0.0.1:port; empty on failure.
std::string scrape(int port) {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string body;
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
            char buf[65536];
            ssize_t n;
            while ((n = read(s, buf, sizeof buf)) > 0) body.append(buf, static_cast<size_t>(n));
        }
    }
    close(s);
    return body;
}

}  // namespace

TEST(Metrics, NodeExporterScrapesTheTextfileWithoutErrorAndTheValuesMatch) {
    if (access(kExporter, X_OK) != 0) GTEST_SKIP() << kExporter << " is not installed (Debian package prometheus-node-exporter)";
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.add_fixture("crash_segv");
    const fs::path textdir = sb.root() / "textfile";
    fs::create_directories(textdir);
    sb.write_manifest(ok_task(sb, "good") + "[[task]]\nname = \"bad\"\nplugin = \"crash_segv\"\n",
                      "metrics_file = \"" + (textdir / "housebrain.prom").string() + "\"\n");
    EXPECT_EQ(sb.run({"--now", "2026-06-01 10:00:00 UTC"}).exit_code, 1);
    EXPECT_EQ(sb.run({"--now", "2026-06-01 10:01:00 UTC"}).exit_code, 1);
    ASSERT_TRUE(fs::exists(textdir / "housebrain.prom"));
    for (const auto& e : fs::directory_iterator(textdir))
        EXPECT_EQ(e.path().filename(), "housebrain.prom") << "temporary file left behind";

    const int port = free_port();
    const pid_t exporter = fork();
    if (exporter == 0) {
        const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
        const std::string dir = "--collector.textfile.directory=" + textdir.string();
        execl(kExporter, kExporter, listen.c_str(), "--collector.disable-defaults", "--collector.textfile",
              dir.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    std::string body;
    for (int i = 0; i < 100 && body.find("node_textfile_scrape_error") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        body = scrape(port);
    }
    kill(exporter, SIGTERM);
    waitpid(exporter, nullptr, 0);

    ASSERT_NE(body.find("node_textfile_scrape_error 0"), std::string::npos) << body;
    EXPECT_NE(body.find("housebrain_task_runs_total{outcome=\"ok\",task=\"good\"} 2"), std::string::npos) << body;
    EXPECT_NE(body.find("housebrain_task_runs_total{outcome=\"crashed\",task=\"bad\"} 2"), std::string::npos) << body;
    EXPECT_NE(body.find("housebrain_task_last_outcome{outcome=\"crashed\",task=\"bad\"} 1"), std::string::npos);
    EXPECT_NE(body.find("housebrain_task_failure_streak{task=\"bad\"} 2"), std::string::npos);
    // Start of the last run: 2026-06-01 10:01:00.x UTC = 1780308060.x (printed as 1.78030806...e+09).
    EXPECT_NE(body.find("housebrain_task_last_run_timestamp_seconds{task=\"good\"} 1.78030806"), std::string::npos)
        << body;
    EXPECT_NE(body.find("housebrain_task_last_success_timestamp_seconds{task=\"good\"}"), std::string::npos);
    EXPECT_EQ(body.find("housebrain_task_last_success_timestamp_seconds{task=\"bad\"}"), std::string::npos);
    EXPECT_NE(body.find("housebrain_run_duration_seconds "), std::string::npos);
}
