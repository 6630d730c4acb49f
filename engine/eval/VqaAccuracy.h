// VQA accuracy as the VQAv2 evaluation computes it: an answer counts by how many of the people
// asked gave it (min(1, matches / 3), averaged over the ten leave-one-out subsets of their
// answers), after the evaluation's normalisation of punctuation, number words, articles and
// contractions. Its quirks are kept, since they are what published numbers were computed with:
// the answers are normalised only when the people did not all agree, a "." is dropped at most
// 32 times, and the comparison ignores case.
//
// Torch-free: the CLI, the window and the tests include it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vqa::eval {

// The evaluation's two normalisation steps, exposed for tests and for showing a normalised answer.
std::string vqaProcessPunctuation(std::string_view text);
std::string vqaProcessDigitArticle(std::string_view text);

struct VqaScore {
    double accuracy = 0;  // 0..1
    std::string prediction;            // as compared (normalised when the answers disagree)
    std::vector<std::string> answers;  // likewise
};

// One question's accuracy for `prediction` against the people's `answers` (VQAv2 has ten; any
// number works). No answers: accuracy 0.
VqaScore scoreVqaAnswer(std::string_view prediction, const std::vector<std::string>& answers);

} // namespace vqa::eval
