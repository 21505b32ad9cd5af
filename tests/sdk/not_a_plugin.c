/* A well-formed shared object that is not a plugin: it lacks housebrain_plugin_entry. */
int not_a_plugin_answer(void);
int not_a_plugin_answer(void) { return 42; }
