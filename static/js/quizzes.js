// Quiz questions are answered in the page: the answer is in the form, nothing goes to berth.

import { words } from "./words.js";

export function initQuizzes(lesson) {
  for (const form of lesson.querySelectorAll("form.quiz")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = form.querySelector("input[type=radio]:checked");
      const result = form.querySelector(".quiz-result");
      const explain = form.querySelector(".quiz-explain");
      if (!chosen) {
        result.textContent = words.quiz_choose;
        form.dataset.state = "";
        return;
      }
      const right = chosen.value === form.dataset.answer;
      form.dataset.state = right ? "right" : "wrong";
      result.textContent = right ? words.quiz_right : words.quiz_wrong;
      if (explain) explain.hidden = !right;
    });
  }
}
