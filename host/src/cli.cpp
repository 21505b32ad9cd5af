#include "cli.h"

#include <boost/program_options.hpp>

#include <sstream>

namespace hb {

namespace po = boost::program_options;

Result<Options> parse_command_line(int argc, const char* const* argv) {
    Options o;
    po::options_description actions("Actions (default: run the tasks that are due, as the timer does)");
    actions.add_options()
        ("list", "list tasks in run order, refused and ignored plugin files, schedules and state")
        ("check", "validate the manifest and load every plugin in a child process; non-zero on any problem")
        ("run-task", po::value<std::string>(), "run one task now, whatever its schedule (recorded in history)")
        ("dry-run", "explain for each task whether it would run now, and why")
        ("history", po::value<std::string>()->implicit_value(""), "show recent runs (of one task, or all)")
        ("reset", po::value<std::string>(), "clear a task's failure streak, retries and quarantine")
        ("calendar", po::value<std::string>(), "show the normalized form and next elapses of a calendar expression")
        ("help,h", "show this help")
        ("version", "show the version");
    po::options_description general("Options");
    general.add_options()
        ("config,c", po::value<std::string>(), "manifest file (default: $CONFIGURATION_DIRECTORY/manifest.toml, else " HB_DEFAULT_CONFIG ")")
        ("plugins-dir", po::value<std::string>(), "plugins directory (overrides the manifest)")
        ("state-dir", po::value<std::string>(), "state directory (overrides the manifest and $STATE_DIRECTORY)")
        ("log-level", po::value<std::string>(), "debug, info, warning or error (overrides the manifest)")
        ("json", "with --list, --history or --dry-run: print JSON")
        ("quiet,q", "with --check: print nothing when all is well, and log each problem as a warning (for ExecStartPre=)")
        (",n", po::value<int64_t>(), "with --history: number of runs (default 20)")
        ("base-time", po::value<std::string>(), "with --calendar: start from this time (\"YYYY-MM-DD HH:MM:SS [zone]\" or @unix)")
        ("iterations", po::value<int>(), "with --calendar: number of elapses (default 5)")
        ("now", po::value<std::string>(), "for tests: pretend the wall clock shows this time (same syntax as --base-time)");
    po::options_description all;
    all.add(actions).add(general);
    std::ostringstream help;
    help << "Usage: housebrain-periodic [ACTION] [OPTIONS]\n\n"
            "Runs the periodic tasks named by the manifest, each plugin in its own child process.\n\n"
         << all
         << "\nExit codes: 0 every task ok; 1 some task not ok (or --check found a problem); 2 usage or\n"
            "manifest error; 3 another instance is running; 4 the state directory is unusable.\n";
    o.help_text = help.str();

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        return fail(std::string(e.what()) + " (see --help)");
    }
    int actions_given = 0;
    auto action = [&](const char* name, Command c) {
        if (vm.count(name)) {
            ++actions_given;
            o.command = c;
        }
    };
    action("list", Command::list);
    action("check", Command::check);
    action("run-task", Command::run_task);
    action("dry-run", Command::dry_run);
    action("history", Command::history);
    action("reset", Command::reset);
    action("calendar", Command::calendar);
    action("version", Command::version);
    action("help", Command::help);
    if (actions_given > 1 && o.command != Command::help) return fail("choose one action at a time (see --help)");

    auto str = [&](const char* name) -> std::optional<std::string> {
        if (vm.count(name)) return vm[name].as<std::string>();
        return std::nullopt;
    };
    o.config = str("config");
    o.plugins_dir = str("plugins-dir");
    o.state_dir = str("state-dir");
    o.log_level = str("log-level");
    if (o.log_level && *o.log_level != "debug" && *o.log_level != "info" && *o.log_level != "warning" &&
        *o.log_level != "error")
        return fail("--log-level must be debug, info, warning or error");
    o.json = vm.count("json") > 0;
    o.quiet = vm.count("quiet") > 0;
    if (auto t = str("run-task")) o.task = *t;
    if (auto t = str("reset")) o.task = *t;
    if (auto t = str("history")) o.task = *t;
    if (auto t = str("calendar")) o.calendar = *t;
    if (vm.count("-n")) o.history_limit = vm["-n"].as<int64_t>();
    o.base_time = str("base-time");
    if (vm.count("iterations")) o.iterations = vm["iterations"].as<int>();
    if (o.iterations < 1 || o.iterations > 1000) return fail("--iterations must be between 1 and 1000");
    o.now = str("now");
    return o;
}

}  // namespace hb
