// A static library needs at least one source of its own; the icons themselves come in
// through qt_add_resources' object library, which initialises them automatically.
namespace vqa::resources {
int version() { return 1; }
}  // namespace vqa::resources
