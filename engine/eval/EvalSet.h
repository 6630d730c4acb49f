// The sets `vqa eval` runs a model over: COCO caption annotations, VQAv2 questions with their
// annotations, or a JSON-lines file of a person's own questions. Every problem with the files
// is a vqa::Error that names the file and the entry.
//
// Torch-free: the CLI, the window and the tests include it.
#pragma once

#include <string>
#include <vector>

namespace vqa::eval {

enum class EvalTask { Caption, Vqa };
const char* taskName(EvalTask task);  // "caption", "vqa"

struct EvalItem {
    std::string id;     // the image id (captions) or the question id (VQA), as written
    std::string image;  // the image's file (absolute)
    std::string question;                 // VQA
    std::vector<std::string> references;  // reference captions, or the people's answers
    std::string answer_type = "unknown";  // VQA
    std::string question_type = "unknown";
};

struct EvalSet {
    EvalTask task = EvalTask::Caption;
    std::string source;  // the annotation file(s), for the report
    std::vector<EvalItem> items;
    // What was left out and why: images without references, entries whose image has no file
    // (with skip_missing). Shown by the CLI and kept in the report.
    std::vector<std::string> notes;
};

struct EvalSetOptions {
    std::string images;         // the folder the images are in ("" : next to the annotations)
    bool skip_missing = false;  // leave out entries whose image has no file, instead of failing
};

// COCO caption annotations ({"images": [...], "annotations": [{"image_id", "caption"}]}). An
// image's file is its file_name in the images folder.
EvalSet loadCocoCaptions(const std::string& annotations, const EvalSetOptions& options);

// VQAv2: the questions file ({"questions": [{"question_id", "image_id", "question"}]}) and the
// annotations file ({"annotations": [{"question_id", "answers": [{"answer"}], "answer_type",
// "question_type"}]}). An image's file is the one in the images folder whose name ends in its
// id (COCO_val2014_000000000042.jpg, 42.png).
EvalSet loadVqaV2(const std::string& questions, const std::string& annotations, const EvalSetOptions& options);

// One question a line: {"image": path (relative to the images folder), "question": text,
// "answers": [text, ...]}, optionally "id" (else the line number), "answer_type" and
// "question_type". Blank lines are passed over.
EvalSet loadVqaJsonl(const std::string& path, const EvalSetOptions& options);

// Where a set is: what the CLI's --task, --annotations, --questions and --images say, and
// what the window's Evaluate form holds.
struct EvalSetFiles {
    EvalTask task = EvalTask::Caption;
    std::string annotations;  // COCO captions; VQAv2 annotations; or a .jsonl set (VQA)
    std::string questions;    // VQAv2 questions ("" : annotations is a .jsonl set)
    EvalSetOptions options;
};

// Loads the set the files make, by the loaders above. Throws vqa::Error as they do, and when
// the files do not make a set of the task.
EvalSet loadEvalSet(const EvalSetFiles& files);

} // namespace vqa::eval
