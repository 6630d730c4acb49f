// The library's records as Qt meta-types, for the queued signals between the library's
// thread, LibraryStore and the widgets. Included before anything names them in a signal.
#pragma once

#include <QMetaType>

#include "engine/library/LibraryDb.h"

Q_DECLARE_METATYPE(vqa::library::ConversationRecord)
Q_DECLARE_METATYPE(vqa::library::SearchHit)
Q_DECLARE_METATYPE(vqa::library::Message)
