/* A shared object that is not a Koppel plugin: it lacks koppel_plugin_entry. */
int some_other_function(int x) { return x + 1; }
