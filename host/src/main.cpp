// housebrain-periodic: runs a home server's periodic tasks as guarded plugins. All behaviour
// lives in the core library; see app.cpp for the actions.
#include "app.h"

int main(int argc, char** argv) { return hb::run_app(argc, argv); }
